#!/usr/bin/env python3
"""Run Debezium's embedded engine (the reference strom.cdc is compared with) from the shell.

The jars come from Maven Central through Maven (``pom.xml`` beside this file), cached in
``~/.cache/strom/debezium-<version>/lib``, separate from the Kafka broker's classpath. The small
main (``src/dev/strom/EngineMain.java``) is compiled with ``javac`` into the same cache, again
whenever its source changes. It runs the connector of a properties file and writes each
change event, as Debezium's JsonConverter renders it, to Kafka (``strom.out=kafka``) or to
stdout as JSON lines (``strom.out=stdout``). Standard library only.

    python scripts/debezium/engine.py resolve             # fetch + compile; prints the classpath
    python scripts/debezium/engine.py run CONNECTOR.properties
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAIN_SOURCE = HERE / "src" / "dev" / "strom" / "EngineMain.java"
MAIN_CLASS = "dev.strom.EngineMain"


def debezium_version() -> str:
    pom = (HERE / "pom.xml").read_text()
    match = re.search(r"<debezium.version>([^<]+)</debezium.version>", pom)
    if match is None:
        raise SystemExit("scripts/debezium/pom.xml has no <debezium.version> property")
    return match.group(1)


def cache_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "strom" / f"debezium-{debezium_version()}"


def resolve_jars() -> Path:
    """Copy Debezium and its dependencies out of Maven into the cache (once per machine)."""
    lib = cache_dir() / "lib"
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None:
        raise SystemExit("Maven (mvn) is required to fetch Debezium from Maven Central")
    tmp = lib.with_name("lib.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"resolving Debezium {debezium_version()} from Maven Central ...", file=sys.stderr)
    subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
        ],
        check=True,
        timeout=900,
    )  # fmt: skip
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    (lib / ".complete").touch()
    return lib


def compile_main(lib: Path) -> Path:
    """Compile the engine main into the cache, again when its source changed."""
    digest = hashlib.sha256(MAIN_SOURCE.read_bytes()).hexdigest()[:16]
    classes = cache_dir() / f"classes-{digest}"
    if (classes / ".complete").exists():
        return classes
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("javac (a JDK 17+) is required to build the Debezium engine main")
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    subprocess.run(
        [javac, "--release", "17", "-cp", f"{lib}/*", "-d", str(classes), str(MAIN_SOURCE)],
        check=True,
        timeout=300,
    )
    (classes / ".complete").touch()
    return classes


def classpath() -> str:
    """The engine's classpath (resolving and compiling first when needed)."""
    lib = resolve_jars()
    return f"{compile_main(lib)}:{lib}/*"


def command(properties: Path) -> list[str]:
    """The java command line that runs the engine on a connector properties file."""
    java = shutil.which("java")
    if java is None:
        raise SystemExit("Java 17+ is required to run the Debezium engine")
    return [
        java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath(), MAIN_CLASS,
        str(properties),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["resolve", "run"])
    parser.add_argument("properties", nargs="?", type=Path)
    args = parser.parse_args()
    if args.command == "resolve":
        print(classpath())
        return
    if args.properties is None:
        parser.error("run needs a connector properties file")
    os.execv(command(args.properties)[0], command(args.properties))


if __name__ == "__main__":
    main()
