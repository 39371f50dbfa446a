# The slipstream runtime image (`slipstream image name` names it): task Pods and
# DaskJob runners run `python -m slipstream.execute ...` in it, Dask schedulers and
# workers `dask scheduler|worker`, the control plane `slipstream serve`. Build it from
# a checkout: `slipstream image build [--push]`, or
#   docker build -t "$(slipstream image name)" .
# Written by `slipstream image dockerfile > Dockerfile`: change that, not this file.
FROM python:3.11.14-slim-bookworm AS wheel
COPY pyproject.toml README.md /src/
COPY slipstream /src/slipstream
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM python:3.11.14-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt /opt/slipstream/constraints.txt
COPY --from=wheel /wheels /opt/slipstream/wheels
RUN python -m pip install --no-cache-dir --only-binary=:all: --constraint /opt/slipstream/constraints.txt /opt/slipstream/wheels/slipstream-*.whl
RUN (getent group 1000 >/dev/null || groupadd --gid 1000 slipstream) && (getent passwd 1000 >/dev/null || useradd --uid 1000 --gid 1000 --no-create-home --home-dir /home/slipstream --shell /usr/sbin/nologin slipstream) && install -d -o 1000 -g 1000 /home/slipstream
USER 1000:1000
ENV HOME=/home/slipstream
WORKDIR /home/slipstream
CMD ["python", "-m", "slipstream.execute", "--help"]
