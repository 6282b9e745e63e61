"""ccci: a CI harness for Co-op Cloud recipes.

The package holds the controller side: reading the recipe format, planning runs,
loading a recipe's CI config and hooks, driving the stage playbooks of the
``ccci.recipe`` collection through ansible-runner, and writing results.
"""

__version__ = "0.1.0"
