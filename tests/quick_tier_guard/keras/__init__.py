# A stand-in that tests/conftest.py puts first on a quick-tier test's PYTHONPATH: a child process of a test
# not marked slow may not import keras (pytest -m "not slow" builds no framework model).
raise ImportError("quick tier: a test not marked @pytest.mark.slow imported keras in a child process")
