"""Measures, against the running sandbox, how long `release deploy` takes to reach its verdict
after the sandbox's deployment reaches its terminal state, and how many ECS API calls and polls
one deploy costs, and how many calls the watch makes per poll (DescribeServices every poll;
DescribeServiceDeployments when the deployment list changes or shows an end, else every 10 s;
stopped tasks when the failed count grows).

Scenarios: healthy, crashloop, stuck (rollout.stall = 10s: the time from UpdateService to the
stalled verdict), and stale-read (healthy, with the sandbox answering the first
two reads after UpdateService with the state before it: `sandbox.stale-reads=2`).

Terminal state: the sandbox's "deployment completed" event (healthy) or "deployment failed"
event (crashloop). Verdict: the `ts` of release's NDJSON `rolled_out` record (healthy; the
verify that follows is not part of the rollout) or `failed` record (crashloop; release then
follows ECS's rollback to its end before the summary). Counts come
from the summary record (`ecs_calls`, `polls`, `watch_calls`).

Run: . .sandbox/env && $SANDBOX_PYTHON benches/verdict_latency.py [runs]   (after `cargo build`)
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug", "release")


def epoch(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def seed(name, extra=()):
    out = subprocess.run([os.environ["SANDBOX_PYTHON"], os.path.join(ROOT, "sandbox", "seed.py"), "--name", name, *extra],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def plan(s, scenario, poll):
    template = open(os.path.join(ROOT, "templates", "local.json")).read()
    d = tempfile.mkdtemp()
    open(os.path.join(d, "template.json"), "w").write(template)
    text = f"""[service]
cluster = "{s['cluster']}"
name = "{s['service']}"
[release]
version = "1.0.0"
[image]
repository = "{s['registry']}/app"
login = "ecr"
[task_definition]
family = "{s['family']}"
template = "template.json"
[task_definition.vars]
jwt_secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter{s['secret']}"
scenario = "{scenario}"
[rollout]
timeout = "2m"
poll = "{poll}"
"""
    p = os.path.join(d, "plan.toml")
    open(p, "w").write(text)
    return p


def run(scenario, poll, n):
    extra = ["--tag", "sandbox.stale-reads=2"] if scenario == "stale-read" else []
    s = seed(f"bench-{scenario}-{os.getpid()}-{n}", extra)
    app = "healthy" if scenario == "stale-read" else scenario
    p = plan(s, app, poll)
    res = subprocess.run([BIN, "--output", "json", "deploy", p, "--image", s["image"]], capture_output=True, text=True)
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    marker = "deployment failed" if app == "crashloop" else "deployment completed"
    event = next(r for r in records if r["event"] == "service_event" and marker in r["message"])
    verdict_kind = "failed" if app == "crashloop" else "rolled_out"
    verdict = next(r for r in records if r["event"] == verdict_kind)
    summary = [r for r in records if r["event"] == "summary"][-1]
    return {
        "exit": res.returncode,
        "latency": epoch(verdict["ts"]) - epoch(event["created_at"]),
        "ecs_calls": summary["ecs_calls"],
        "polls": summary["polls"],
        "watch_calls": summary.get("watch_calls", 0),
        "seconds": summary["seconds"],
        "by_action": by_action(summary),
    }


def stall(n):
    """A placement that never happens (scenario stuck), rollout.stall = 10s: seconds from the
    UpdateService (the `deployment_started` record) to the stalled verdict, calls, and how often the
    repeated "unable to place" event was printed."""
    s = seed(f"bench-stuck-{os.getpid()}-{n}")
    p = plan(s, "stuck", "1s")
    text = open(p).read().replace('poll = "1s"', 'poll = "1s"\nstall = "10s"\non_failure = "stop"')
    open(p, "w").write(text)
    res = subprocess.run([BIN, "--output", "json", "deploy", p, "--image", s["image"]], capture_output=True, text=True)
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    summary = [r for r in records if r["event"] == "summary"][-1]
    started = next(r for r in records if r["event"] == "deployment_started")
    printed = sum(1 for r in records if r["event"] == "service_event" and "unable to place" in r["message"])
    return {
        "exit": res.returncode,
        "verdict": summary["verdict"]["verdict"],
        "after": epoch(summary["ts"]) - epoch(started["ts"]),
        "ecs_calls": summary["ecs_calls"],
        "polls": summary["polls"],
        "printed": printed,
    }


def by_action(summary):
    return " ".join(f"{k}={v}" for k, v in sorted(summary.get("ecs_calls_by_action", {}).items()))


def noop(n):
    """A deploy of what already runs: the healthy deploy, then the same deploy again; the ECS
    calls of the second (preflight and verify: nothing registered or deployed)."""
    s = seed(f"bench-noop-{os.getpid()}-{n}")
    p = plan(s, "healthy", "1s")
    for _ in range(2):
        res = subprocess.run([BIN, "--output", "json", "deploy", p, "--image", s["image"]], capture_output=True, text=True)
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    summary = [r for r in records if r["event"] == "summary"][-1]
    return {"exit": res.returncode, "result": summary.get("result"), "ecs_calls": summary["ecs_calls"], "by_action": by_action(summary)}


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rs = [noop(i) for i in range(runs)]
    print(f"no-op     : exit {sorted(set(r['exit'] for r in rs))}, result {sorted(set(str(r['result']) for r in rs))}, "
          f"ECS calls median {statistics.median(r['ecs_calls'] for r in rs):.0f} ({rs[0]['by_action']})  [{runs} runs]")
    for scenario in ("healthy", "crashloop", "stale-read"):
        for poll in ("1s", "2s"):
            rs = [run(scenario, poll, i) for i in range(runs)]
            lat = [r["latency"] for r in rs]
            print(f"{scenario:9} poll {poll}: exit {sorted(set(r['exit'] for r in rs))}, "
                  f"terminal-state->verdict median {statistics.median(lat):.2f}s max {max(lat):.2f}s, "
                  f"ECS calls per deploy median {statistics.median(r['ecs_calls'] for r in rs):.0f} "
                  f"(polls {statistics.median(r['polls'] for r in rs):.0f}, watch calls per poll "
                  f"{statistics.median(r['watch_calls'] / max(r['polls'], 1) for r in rs):.2f}), deploy {statistics.median(r['seconds'] for r in rs):.1f}s"
                  f"  [{runs} runs]; by action (first run): {rs[0]['by_action']}")
    rs = [stall(i) for i in range(runs)]
    print(f"stuck     poll 1s, stall 10s: exit {sorted(set(r['exit'] for r in rs))}, verdict {sorted(set(r['verdict'] for r in rs))}, "
          f"UpdateService->verdict median {statistics.median(r['after'] for r in rs):.2f}s, "
          f"ECS calls median {statistics.median(r['ecs_calls'] for r in rs):.0f} (polls {statistics.median(r['polls'] for r in rs):.0f}), "
          f"placement event printed {sorted(set(r['printed'] for r in rs))} time(s)  [{runs} runs]")


if __name__ == "__main__":
    main()
