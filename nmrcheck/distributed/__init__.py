"""Work spread over processes and machines with Ray (the optional extra ``nmrcheck[ray]``).

Beside the command line: it schedules whole checks and swarm runs as independent jobs
(:mod:`.checks`, :mod:`.sweep`, :mod:`.swarm`) and gathers their answers in a fixed order; it
calls the engines only through their public functions. Without ``--ray`` the same jobs run
one after the other in this process (:class:`.cluster.Pool`).
"""
