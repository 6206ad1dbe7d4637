# The team's MLflow server (infra/compose.yaml). The official image has neither psycopg2 nor boto3; the pins
# are requirements.lock's, so this is the server tests/test_team_servers.py runs (tests/test_compose.py checks).
FROM python:3.11-slim
RUN pip install --no-cache-dir mlflow==3.17.2 psycopg2-binary==2.9.13 boto3==1.43.117 \
 && useradd --create-home --uid 1000 mlflow
USER mlflow
EXPOSE 5000
