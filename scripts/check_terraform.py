#!/usr/bin/env python3
"""Static checks of terraform/ that need no cloud and no terraform binary.

1. every .tf file parses (python-hcl2);
2. every module and example has variables.tf, outputs.tf, versions.tf and README.md;
3. every variable has a type and a description, every output a description;
4. provider versions are pinned exactly (x.y.z);
5. every checkov skip gives a reason;
6. every variable and output is documented in its module's README.
Exit status 1 with one line per problem.
"""
import pathlib
import re
import sys

import hcl2

ROOT = pathlib.Path(__file__).resolve().parent.parent / "terraform"
problems = []


def load(path):
    try:
        with path.open() as f:
            return hcl2.load(f)
    except Exception as e:  # the parser raises several exception types
        problems.append(f"{path}: does not parse: {e}")
        return {}


tf_files = sorted(ROOT.rglob("*.tf"))
if not tf_files:
    problems.append(f"{ROOT}: no .tf files found")
parsed = {p: load(p) for p in tf_files}

stacks = sorted(
    {p.parent for p in tf_files if p.parent.parent.name in ("modules", "examples")}
)
for stack in stacks:
    for required in ("variables.tf", "outputs.tf", "versions.tf", "README.md"):
        if not (stack / required).exists():
            problems.append(f"{stack}: missing {required}")

for path, doc in parsed.items():
    for block in doc.get("variable", []):
        for name, body in block.items():
            if name.startswith("__"):
                continue
            for field in ("type", "description"):
                if field not in body:
                    problems.append(f"{path}: variable {name} has no {field}")
    for block in doc.get("output", []):
        for name, body in block.items():
            if name.startswith("__"):
                continue
            if "description" not in body:
                problems.append(f"{path}: output {name} has no description")
    for tf in doc.get("terraform", []):
        for providers in tf.get("required_providers", []):
            for name, spec in providers.items():
                if name.startswith("__"):
                    continue
                # python-hcl2 wraps an object attribute in a list
                spec = spec[0] if isinstance(spec, list) and spec else spec
                version = spec.get("version", "") if isinstance(spec, dict) else ""
                if not re.fullmatch(r"\d+\.\d+\.\d+", str(version)):
                    problems.append(f"{path}: provider {name} is not pinned to an exact version ({version!r})")

# every variable and output is named in its module's README
for stack in stacks:
    readme = stack / "README.md"
    if not readme.exists():
        continue
    text = readme.read_text()
    for path in (stack / "variables.tf", stack / "outputs.tf"):
        for kind in ("variable", "output"):
            for block in parsed.get(path, {}).get(kind, []):
                for name in block:
                    if not name.startswith("__") and f"`{name}`" not in text:
                        problems.append(f"{readme}: does not document {kind} `{name}`")

for path in tf_files:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.search(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", line)
        if m and not (m.group(2) or "").strip():
            problems.append(f"{path}:{n}: checkov skip {m.group(1)} gives no reason")

for p in problems:
    print(p)
print(f"checked {len(tf_files)} .tf files in {len(stacks)} modules/examples: {len(problems)} problems")
sys.exit(1 if problems else 0)
