"""The test suite, laid out as the source tree.

* ``tests/gpt4o_prior/<package>/test_<module>.py`` tests ``gpt4o_prior/<package>/<module>.py``;
  ``tests/basicsr_plugins/`` and ``tests/mmagic_plugins/`` do the same for the two adapters. A test file named after
  no module (``test_learning.py``, ``test_concurrency.py``, ...) tests behaviour that spans the modules of its
  package; its docstring says which.
* ``tests/helpers/`` is an importable package of shared helpers (tiny host networks, the fake OpenAI server, cache
  and BasicSR set-ups): import them as ``from tests.helpers.hosts import TinyUNet``, never by bare module name.
  Its own ``test_*.py`` files test that infrastructure.
* ``tests/test_layering.py`` and ``tests/test_package.py`` check the project as a whole;
  ``tests/benchmarks/`` tests the benchmark scripts on tiny settings.

Every folder is a package (an ``__init__.py``), so pytest imports each file under its dotted name
(``tests.gpt4o_prior.cache.test_store``) and two files may share a base name.
"""
