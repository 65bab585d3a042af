# The pipe's image: one static binary and a CA bundle on an empty base. Nothing else is needed
# (no shell, no libc), which keeps the pull small and leaves nothing else to patch.
#
# Built by scripts/build-image, which compiles the static binary first and passes a context
# holding exactly these two files; the release pipeline uses the same script.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY aws-role-deploy /usr/local/bin/aws-role-deploy
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /opt/atlassian/pipelines/agent/build
ENTRYPOINT ["/usr/local/bin/aws-role-deploy"]
