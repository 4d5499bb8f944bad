# spillway: one static binary (serve, sim, validate, envoy, count) on a
# distroless base. Build: docker build -t spillway .
# The whole stack (simulator, spillway, Envoy): docker compose up --build

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so editing code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags=vtprotobuf -ldflags="-s -w" -o /out/spillway ./cmd/spillway

# static-debian12 has CA certificates and tzdata, no shell; runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/spillway /spillway
USER nonroot:nonroot
# 18000: ext_proc + xDS for Envoy; 9464: admin (/healthz); 8081: the simulator.
EXPOSE 18000 9464 8081
ENTRYPOINT ["/spillway"]
CMD ["help"]
