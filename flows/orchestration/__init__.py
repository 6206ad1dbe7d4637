"""Running the graph: the Prefect pipeline flow and its preflight check, one stage's command
line and its Prefect task, the order stages run in and their share of the machine, the run
lock, the live progress board, the cron deployments and the team servers' command lines."""
