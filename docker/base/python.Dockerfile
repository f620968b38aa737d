# A python:3.11-slim stand-in built from Debian packages, for machines that cannot pull it
# (docker/build-base-images.sh builds it). Debian's python3 is 3.11 on bookworm; `python3 -m
# venv` needs python3-venv.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /usr/share/doc/* /usr/share/man/*
ENV LANG=C.UTF-8
CMD ["python3"]
