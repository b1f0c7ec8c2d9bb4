"""The files through which the parent (runner.py) and the sandboxed worker (worker.py) talk; both import this."""

RESULT_FILE = "result.json"  # the job's JSON result, written atomically by the worker
ISOLATION_FILE = "isolation.json"  # the names of the protections that took effect in the child
MAX_RESULT_BYTES = 32 * 2**20
