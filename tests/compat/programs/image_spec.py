"""ImageSpec on tasks and Dask clusters (Flyte docs: "ImageSpec"); locally it changes nothing."""

from distributed import Client

from slipstream import ImageSpec, Resources, task, workflow
from slipstream.dask import Dask, Scheduler, WorkerGroup

image_spec = ImageSpec(
    name="flyte-compat",
    registry="ghcr.io/example",
    python_version="3.11",
    packages=["pandas", "pyarrow"],
    apt_packages=["git"],
    env={"APP_MODE": "test"},
)
dask_image = image_spec.with_packages(["dask[distributed]"])

if image_spec.is_container():
    import pandas  # noqa: F401 - only inside the image


@task(container_image=image_spec, requests=Resources(cpu="1", mem="1Gi"))
def greet(name: str) -> str:
    return f"hello {name}"


def inc(x: int) -> int:
    return x + 1


@task(
    container_image=dask_image,
    task_config=Dask(
        scheduler=Scheduler(image=dask_image),
        workers=WorkerGroup(number_of_workers=2, image=dask_image),
    ),
)
def increment(n: int) -> list[int]:
    client = Client()
    return client.gather(client.map(inc, range(n)))


@workflow
def image_wf(name: str = "world") -> str:
    return greet(name=name)


if __name__ == "__main__":
    print(f"image_wf: {image_wf()}")
    print(f"increment: {increment(n=3)}")
    print(f"is_container: {image_spec.is_container()}")
    again = ImageSpec(
        name="flyte-compat",
        registry="ghcr.io/example",
        python_version="3.11",
        packages=["pandas", "pyarrow"],
        apt_packages=["git"],
        env={"APP_MODE": "test"},
    )
    print(f"same spec, same name: {again.image_name() == image_spec.image_name()}")
