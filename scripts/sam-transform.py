#!/usr/bin/env python3
"""Prints the CloudFormation template SAM makes of a SAM template (argv[1]), as JSON, offline:
the transform `sam deploy` has CloudFormation apply, with the functions' local CodeUri replaced
by a placeholder S3 URI, as cfn-lint does. template_test.go checks what Lambda gets from it."""
import json, os, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class NoManaged:
    def load(self): return {}
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
with open(sys.argv[1]) as f:
    t = yaml_parse(f.read())
for r in t.get("Resources", {}).values():
    if r.get("Type") == "AWS::Serverless::Function" and isinstance(r.get("Properties", {}).get("CodeUri"), str):
        r["Properties"]["CodeUri"] = "s3://bucket/key"
json.dump(transform(t, {}, NoManaged()), sys.stdout)
