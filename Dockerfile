# The image of Legion's example binaries, counter and discovery: static binaries built in
# one stage, run in a minimal final stage (distroless static: no shell, no libc) as a
# non-root user, with the data directory as a volume. The build line below is the one
# deploy/'s tests run to get the binary they start (deploy/image_test.go), so what the
# tests start is what the image holds.
#
#	docker build -t legion-examples .
#	docker run --rm legion-examples node -h                          # the counter's node flags
#	docker run --rm --entrypoint /usr/local/bin/discovery legion-examples -h
#
# docs/operations.md: running it with Compose or on Kubernetes (deploy/kubernetes).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -o /out/ ./examples/counter ./examples/discovery
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/counter /out/discovery /usr/local/bin/
# The data directory's mount point, owned by the user that runs the node. Kubernetes
# mounts a volume here with fsGroup 65532; Docker copies this ownership to a new volume.
COPY --from=build --chown=65532:65532 /out/data /var/lib/legion
USER 65532:65532
VOLUME /var/lib/legion
# remoting, gossip (TCP and UDP), the HTTP API
EXPOSE 7000/tcp 7946/tcp 7946/udp 8080/tcp
ENTRYPOINT ["/usr/local/bin/counter"]
CMD ["node", "-h"]
