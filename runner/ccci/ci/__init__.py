"""ccci as a CI service: the ``!testme`` bridge from a forge's pull requests to Drone
builds (``bridge``), the answer posted on the pull request at the end of a run
(``answer``), their configuration (``config``) and the forge and Drone clients."""
