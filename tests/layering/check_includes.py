#!/usr/bin/env python3
"""Each directory has one job: the engine knows nothing of gRPC or the
server, the server nothing of the engine's kernels. Fails on an #include
that crosses those lines.  Usage: check_includes.py SOURCE_DIR"""
import pathlib
import re
import sys

RULES = {  # directory: include prefixes it must not use
    "engine": ("grpc", "grpcpp/", "server/", "proto/", "client/"),
    "server": ("engine/kernels/", "oneapi/dnnl", "dnnl"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def violations(root: pathlib.Path):
    for directory, banned in RULES.items():
        for path in sorted((root / directory).rglob("*")):
            if path.suffix not in (".h", ".cc", ".inc"):
                continue
            for header in INCLUDE.findall(path.read_text(encoding="utf-8")):
                if header.startswith(banned):
                    yield f"{path.relative_to(root)} includes {header}"


def main():
    found = list(violations(pathlib.Path(sys.argv[1])))
    for v in found:
        print(v)
    checked = ", ".join(f"{d}/ uses none of {', '.join(b)}" for d, b in RULES.items())
    print(f"{'FAILED' if found else 'OK'}: {checked}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
