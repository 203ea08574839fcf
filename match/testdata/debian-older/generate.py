#!/usr/bin/env python3
"""Writes this directory's root filesystem: the packages of the Debian
bookworm fixture image, each at an older version that really existed.

Usage (from the repository root, with the fixture images built by
scripts/setup.d/10-fixture-images.sh):

    python3 match/testdata/debian-older/generate.py \
        ~/.cache/credence/fixtures/debian-bookworm-v1/debian-bookworm.docker.tar

For every package in the image's dpkg status whose Debian changelog
(usr/share/doc/<package>/changelog.Debian.gz, in the same image) lists
an upload dated before CUTOFF, the package is written at the newest such
version, under its source package's name. Nothing is matched or compared
here: the choice uses only the changelog dates. The oracle of
TestAccuracyDebianOlder decides, with dpkg --compare-versions, which of
these versions the raw OSV records say are affected.
"""
import email.utils
import gzip
import io
import json
import os
import posixpath
import re
import sys
import tarfile

CUTOFF = email.utils.parsedate_to_datetime("Wed, 01 Jun 2022 00:00:00 +0000")
HERE = os.path.dirname(os.path.abspath(__file__))

entry = re.compile(r"^(\S+) \(([^)]+)\) [^;]+;")
trailer = re.compile(r"^ -- .*>  (.+)$")


def layer_files(archive):
    outer = tarfile.open(archive)
    manifest = json.load(outer.extractfile("manifest.json"))
    files = {}
    for layer in manifest[0]["Layers"]:
        inner = tarfile.open(fileobj=outer.extractfile(layer))
        for m in inner:
            name = posixpath.normpath(m.name.lstrip("./"))
            if m.issym():
                files[name] = ("link", m.linkname)
            elif m.isfile():
                files[name] = ("file", inner.extractfile(m).read())
    return files


def resolve(files, path, depth=0):
    """Follows symlinks of path and of its parent directories."""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        head = "/".join(parts[:i])
        kind = files.get(head)
        if kind and kind[0] == "link" and depth < 40:
            target = kind[1]
            base = posixpath.dirname(head)
            new = posixpath.normpath(target.lstrip("/") if target.startswith("/") else posixpath.join(base, target))
            return resolve(files, "/".join([new] + parts[i:]), depth + 1)
    return files.get(path)


def older_version(changelog):
    version = None
    for line in changelog.splitlines():
        m = entry.match(line)
        if m:
            version = m.group(2)
            continue
        m = trailer.match(line)
        if m and version:
            if email.utils.parsedate_to_datetime(m.group(1)) < CUTOFF:
                return version
            version = None
    return None


def main():
    files = layer_files(sys.argv[1])
    status = files["var/lib/dpkg/status"][1].decode()
    out = []
    for stanza in status.strip().split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", stanza, re.M))
        pkg = fields["Package"]
        source = fields.get("Source", pkg).split(" ")[0]
        got = resolve(files, f"usr/share/doc/{pkg}/changelog.Debian.gz")
        if not got or got[0] != "file":
            continue
        version = older_version(gzip.decompress(got[1]).decode("utf-8", "replace"))
        if not version:
            continue
        out.append(f"Package: {pkg}\nStatus: install ok installed\nVersion: {version}\nSource: {source}\nArchitecture: {fields.get('Architecture', 'amd64')}\n")
    os.makedirs(os.path.join(HERE, "var/lib/dpkg"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "etc"), exist_ok=True)
    with open(os.path.join(HERE, "var/lib/dpkg/status"), "w") as f:
        f.write("\n".join(out))
    with open(os.path.join(HERE, "etc/os-release"), "wb") as f:
        f.write(resolve(files, "etc/os-release")[1])
    print(f"{len(out)} packages")


main()
