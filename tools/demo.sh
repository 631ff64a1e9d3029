#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working mirror:
#   1. installs the Debian packages and builds cistern (build/),
#   2. generates a PyPI-like upstream and serves it with nginx over HTTPS (HTTP/2) on 127.0.0.1,
#   3. runs `cistern sync` from it into demo/mirror,
#   4. serves demo/mirror/web with the shipped nginx site (config/nginx/),
#   5. pip-installs a package with dependencies from that mirror.
# Both nginx servers keep running so you can try pip yourself; `tools/demo.sh stop` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/demo
serve=$root/tools/test_upstream/serve.py

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

stop_servers() {
  for workdir in "$demo/upstream" "$demo/serve"; do
    if [[ -f $workdir/server.json ]]; then
      python3 "$serve" stop --workdir "$workdir" && rm -f "$workdir/server.json"
    fi
  done
}

if [[ ${1:-} == stop ]]; then
  stop_servers
  echo "demo servers stopped; the mirror stays in $demo/mirror"
  exit 0
fi

step() { printf '\n==> %s\n' "$*"; }

step "installing Debian packages (apt-get)"
bash tools/install_deps.sh

step "building cistern into build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target cistern
cistern=$root/build/tools/cistern/cistern

stop_servers
rm -rf "$demo"
mkdir -p "$demo"

step "generating a PyPI-like upstream and serving it with nginx (HTTPS + HTTP/2)"
python3 "$serve" start --workdir "$demo/upstream" --profile default --seed 1 >/dev/null
upstream_url=$(json_field "$demo/upstream/server.json" https_url)
ca=$(json_field "$demo/upstream/server.json" ca_file)
echo "upstream: $upstream_url/simple/ (test CA $ca)"

step "cistern sync --mirror $demo/mirror --upstream $upstream_url --ca-file $ca"
"$cistern" sync --mirror "$demo/mirror" --upstream "$upstream_url" --ca-file "$ca"

step "serving the mirror with the shipped nginx site (config/nginx/)"
python3 "$serve" start --workdir "$demo/serve" --mirror-web "$demo/mirror/web" >/dev/null
mirror_url=$(json_field "$demo/serve/server.json" https_url)
mirror_ca=$(json_field "$demo/serve/server.json" ca_file)
echo "mirror: $mirror_url/simple/"

step "pip install Chain-A (and its dependencies) from the mirror"
REQUESTS_CA_BUNDLE=$mirror_ca python3 -m pip --isolated install --no-cache-dir \
  --disable-pip-version-check --index-url "$mirror_url/simple/" --cert "$mirror_ca" \
  --target "$demo/site" Chain-A

cat <<DONE

Done.
  mirror tree:   $demo/mirror/web   (served at $mirror_url/simple/)
  its database:  $demo/mirror/state
  installed to:  $demo/site
Try it yourself:
  REQUESTS_CA_BUNDLE=$mirror_ca python3 -m pip --isolated install --index-url $mirror_url/simple/ --target /tmp/x Foo_Bar
  $cistern sync --mirror $demo/mirror --upstream $upstream_url --ca-file $ca    (nothing to fetch)
Stop the two nginx servers with: tools/demo.sh stop
DONE
