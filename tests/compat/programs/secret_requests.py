"""Secrets (Flyte docs: "Secrets"): requested by a task, read from its context."""

from slipstream import Secret, current_context, task, workflow

SECRET_GROUP = "user-info"
SECRET_NAME = "user_secret"


@task(secret_requests=[Secret(group=SECRET_GROUP, key=SECRET_NAME)])
def secret_task() -> str:
    secret_val = current_context().secrets.get(SECRET_GROUP, SECRET_NAME)
    return f"secret has {len(secret_val)} characters"


@task(
    secret_requests=[
        Secret(group="db", key="password", mount_requirement=Secret.MountType.FILE),
        Secret(group="db", key="user", mount_requirement=Secret.MountType.ENV_VAR),
    ]
)
def db_task() -> str:
    secrets = current_context().secrets
    user = secrets.get("db", "user")
    password = secrets.get("db", "password")
    return f"{user} has a password of {len(password)} characters"


@task
def where() -> str:
    secrets = current_context().secrets
    return secrets.get_secrets_env_var("db", "user")


@workflow
def secrets_wf() -> str:
    return secret_task()


@workflow
def db_wf() -> str:
    return db_task()


if __name__ == "__main__":
    print(f"secrets_wf: {secrets_wf()}")
    print(f"db_wf: {db_wf()}")
    print(f"where: {where()}")
