"""examples/quickstart.py, the plain-script tour, works on the embedded defaults in a fresh directory."""

import subprocess
import sys
from pathlib import Path

from mastra_nb import DuckDBStore

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart.py"


async def test_quickstart_stores_its_tool_results_in_duckdb_under_dot_mastra(tmp_path):
    done = subprocess.run([sys.executable, str(QUICKSTART)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "[TOOL_INPUT_INVALID]" in done.stdout and "(cached)" in done.stdout
    async with DuckDBStore(tmp_path / ".mastra" / "mastra.duckdb") as store:
        stored = await store.mget(await store.list("quickstart:"))
    assert [entry["output"] for entry in stored.values()] == [7, 70.7, 70.7]
    assert all(f"{key}: {value}" in done.stdout for key, value in stored.items())
