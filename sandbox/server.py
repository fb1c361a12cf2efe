"""Entry point of the sandbox's moto server: patch ECS with the rollout simulation, then serve.

Usage: python sandbox/server.py -H 127.0.0.1 -p PORT
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ecs_rollout  # noqa: E402
import faults  # noqa: E402
import ssm_access  # noqa: E402

ecs_rollout.install()
faults.install()
ssm_access.install()

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
