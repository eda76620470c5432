"""Operating the instance: Prometheus metrics at ``/metrics`` and the federation's recent log entries."""
