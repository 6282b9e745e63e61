"""The lint tier (L5): is this a well-made recipe? Rules applied without deploying.

- ``subject``: the version under test and the previous release, checked out;
- ``registry``: the lint rules (each a finding rule of ``ccci.findings``, so ``ccci
  check-doc`` documents them) and the functions that apply them;
- ``abra_rules``: what ``abra recipe lint`` checks, one version at a time;
- ``release_rules``: mistakes only two releases side by side show.
"""
