"""Partial permissions for SSM Parameter Store, patched into moto 5.2.5 (server mode).

A SecureString's value can only be read by a principal with kms:Decrypt on its key, whatever
Parameter Store call reads it; without WithDecryption no key is used and the name and
metadata stay readable (Systems Manager user guide, "Restricting decryption of SecureString
parameter values", https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-restrict-decryption.html).

Switch, per parameter: the SSM tag `sandbox.kms=deny` (AddTagsToResource, or PutParameter
Tags). GetParameters / GetParameter with WithDecryption=true naming such a parameter answer
HTTP 400 AccessDeniedException naming kms:Decrypt, for the whole call, as one denied key
fails the request; without decryption they answer as usual. The message wording is
constructed (the documentation gives none).

Fault injection (sandbox-only, no AWS page: it models an answer cut short on the way, the
way a proxy or a dropped connection leaves it): the SSM tag `sandbox.answer=malformed` on a
parameter makes GetParameters naming it answer 200 with the batch's JSON, values included,
cut off before its end, so a client fails to parse it. A client must never show that body.
"""

from __future__ import annotations

from typing import Any

DENY_TAG = "sandbox.kms"
ANSWER_TAG = "sandbox.answer"


def _tagged(backend: Any, names: list[str], tag: str, value: str) -> str | None:
    for name in names:
        short = name
        if name.startswith("arn:"):
            resource = name.split(":", 5)[5]
            short = resource[len("parameter"):] if resource.startswith("parameter") else resource
        param = backend.get_parameter(short)
        if param is None:
            continue
        tags = backend._resource_tags.get("Parameter", {}).get(param.name, {})
        if str(tags.get(tag, "")).lower() == value:
            return param.name
    return None


def install() -> None:
    from moto.ssm import responses as r
    from moto.ssm.exceptions import AccessDeniedException

    R = r.SimpleSystemManagerResponse
    originals = {"get_parameters": R.get_parameters, "get_parameter": R.get_parameter}

    def guard(self: Any, names: list[str]) -> None:
        if not self._get_param("WithDecryption"):
            return
        name = _tagged(self.ssm_backend, names, DENY_TAG, "deny")
        if name is not None:
            raise AccessDeniedException(
                f"User: arn:aws:iam::{self.current_account}:user/sandbox is not authorized to perform: "
                f"kms:Decrypt on resource: arn:aws:kms:{self.region}:{self.current_account}:key/sandbox-denied "
                f"(the key of parameter {name}) because no identity-based policy allows the kms:Decrypt action"
            )

    def get_parameters(self: Any) -> Any:
        names = self._get_param("Names") or []
        guard(self, names)
        if _tagged(self.ssm_backend, names, ANSWER_TAG, "malformed") is not None:
            import json

            decrypt = bool(self._get_param("WithDecryption"))
            found = self.ssm_backend.get_parameters(names)
            body = json.dumps(
                {"Parameters": [p.response_object(decrypt, self.region) for p in found.values()], "InvalidParameters": []},
                default=str,
            )
            return body[: len(body) - 7]
        return originals["get_parameters"](self)

    def get_parameter(self: Any) -> Any:
        guard(self, [self._get_param("Name")])
        return originals["get_parameter"](self)

    R.get_parameters = get_parameters
    R.get_parameter = get_parameter
