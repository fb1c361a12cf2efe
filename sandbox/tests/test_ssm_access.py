"""Partial permissions on SSM: `sandbox.kms=deny` on a parameter denies reading its value
(WithDecryption) and nothing else, as the Systems Manager user guide's "Restricting
decryption of SecureString parameter values" describes."""

from __future__ import annotations

import uuid

import botocore.exceptions
import pytest

import seed


def test_kms_deny_blocks_decryption_only():
    ssm = seed.client("ssm")
    name = f"/kms-access-{uuid.uuid4().hex[:8]}/secret"
    other = name.replace("/secret", "/other")
    ssm.put_parameter(Name=name, Value="v" * 64, Type="SecureString")
    ssm.put_parameter(Name=other, Value="w" * 64, Type="SecureString")
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "sandbox.kms", "Value": "deny"}])

    # Without decryption: the name and metadata are readable, the value stays encrypted.
    plain = ssm.get_parameters(Names=[name, other], WithDecryption=False)
    assert sorted(p["Name"] for p in plain["Parameters"]) == sorted([name, other])

    # With decryption: the whole call is denied, naming kms:Decrypt.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.get_parameters(Names=[name, other], WithDecryption=True)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "kms:Decrypt" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError):
        ssm.get_parameter(Name=name, WithDecryption=True)

    # The other parameter alone decrypts.
    ok = ssm.get_parameters(Names=[other], WithDecryption=True)
    assert ok["Parameters"][0]["Value"] == "w" * 64


def test_malformed_answer_is_cut_short_and_unparseable():
    import json
    import os
    import urllib.request

    ssm = seed.client("ssm")
    name = f"/kms-access-{uuid.uuid4().hex[:8]}/cut"
    ssm.put_parameter(Name=name, Value="x" * 64, Type="SecureString")
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "sandbox.answer", "Value": "malformed"}])
    req = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL"] + "/",
        data=json.dumps({"Names": [name], "WithDecryption": True}).encode(),
        headers={
            "X-Amz-Target": "AmazonSSM.GetParameters",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=x",
        },
    )
    body = urllib.request.urlopen(req, timeout=10).read().decode()
    assert "x" * 64 in body  # the value is in the answer...
    with pytest.raises(json.JSONDecodeError):  # ...which is cut short
        json.loads(body)
