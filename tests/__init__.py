"""The test suite. Imported before `tests/conftest.py` and anything it imports, so what is set here reaches
every library the tests load, and every process they start.

The math libraries' thread pools get one thread each. On 2 cores, two test lanes, their stacks' workers and
the model builds already keep both cores busy; threads of OpenMP and OpenBLAS that spin while they wait for
work only take CPU from the rest. Code that sets its own thread count (the escalation model's
`TEPPAN_ESCALATION_THREADS`, its benchmark) still does.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
