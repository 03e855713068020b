"""`ritbox-verify PACKAGE`: a Dutch and an English verdict; exit 0 (holds), 1 (fails), 2 (unreadable)."""
from __future__ import annotations

import argparse
import sys

from ritbox_verify.package import verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ritbox-verify", description="Check a Ritbox inspector package offline.")
    parser.add_argument("package", help="the inspector package (zip)")
    parser.add_argument("--key-id", help="the key id the backend published: refuse a package signed by another key")
    args = parser.parse_args(argv)
    try:
        with open(args.package, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        print(f"ritbox-verify: {args.package}: cannot read ({exc.strerror})", file=sys.stderr)
        return 2
    verdict = verify(data)
    if args.key_id and verdict.key_id and verdict.key_id != args.key_id:
        from ritbox_verify.records import Problem
        verdict.problems.insert(0, Problem("manifest.json", f"is signed by key {verdict.key_id}, not {args.key_id}",
                                           f"is ondertekend met sleutel {verdict.key_id}, niet {args.key_id}"))
    subject = verdict.subject
    about = f"{subject.get('title', '?')} {subject.get('year', '?')}" if subject else args.package
    if verdict.ok:
        print(f"NL: GOED - het pakket ({about}) is onveranderd en volledig: {verdict.records} ritrecords van "
              f"{verdict.devices} kastje(s), ondertekend met sleutel {verdict.key_id}.")
        print(f"EN: OK - the package ({about}) is unchanged and complete: {verdict.records} trip records of "
              f"{verdict.devices} device(s), signed with key {verdict.key_id}.")
        return 0
    first = verdict.problems[0]
    print(f"NL: AFGEKEURD - {first.where}: {first.nl}")
    print(f"EN: FAILED - {first.where}: {first.en}")
    if len(verdict.problems) > 1:
        print(f"({len(verdict.problems) - 1} more / nog {len(verdict.problems) - 1}:)")
        for problem in verdict.problems[1:20]:
            print(f"  {problem.where}: {problem.en} / {problem.nl}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
