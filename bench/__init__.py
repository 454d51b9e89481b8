"""The search benchmark harness behind `manage.py benchmark_search`: a catalogue of N garments in a
database of its own, recall against exact search, engine and bare-SQL latency, HTTP load, plots."""
