"""`make bench`: print every benchmark's figures. Figures, not assertions: nothing here can fail a build."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_agents
import bench_auth
import bench_mcp
import bench_memory
import bench_models
import bench_notebook
import bench_storage
import bench_telemetry
import bench_tools
import bench_workflows


def main() -> None:
    print(f"mastra_nb benchmarks: Python {platform.python_version()} on {platform.machine()}")
    for title, module in (
        ("Storage", bench_storage),
        ("Tools", bench_tools),
        ("Workflows", bench_workflows),
        ("Agents and models", bench_agents),
        ("The first litellm call (a fresh interpreter each round)", bench_models),
        ("Memory and vectors", bench_memory),
        ("Notebook (a fresh kernel each round)", bench_notebook),
        ("Tracing", bench_telemetry),
        ("Server authentication and rate limits (per check, in-process)", bench_auth),
        ("MCP tool calls (our client and server)", bench_mcp),
    ):
        rows = module.run()
        width = max(len(label) for label, _, _ in rows)
        print(f"\n{title}")
        for label, value, unit in rows:
            print(f"  {label:<{width}}  {value:>12,.2f} {unit}")


if __name__ == "__main__":
    main()
