#!/usr/bin/env bash
# Build (once) an offline Go vulnerability database for govulncheck, and
# install a pinned govulncheck next to it. Nothing here needs the network
# except the Go module proxy.
#
#   usage: bash .ci/vulndb.sh [CACHE_DIR]
#
# CACHE_DIR defaults to "$(go env GOCACHE)/../jimu-vulndb". Layout:
#   CACHE_DIR/db/<vulndb version>/   v1 database (index/, ID/), made by
#                                    golang.org/x/vulndb/cmd/indexdb from
#                                    the module's data/osv/*.json
#   CACHE_DIR/bin/govulncheck        golang.org/x/vuln/cmd/govulncheck
#
# Prints the absolute database dir (and nothing else) on stdout, so:
#   db="$(bash .ci/vulndb.sh "$cache")"
#   "$cache/bin/govulncheck" -db "file://$db" ./...
# Progress goes to stderr. Re-running is cheap: the database is rebuilt only
# when the one for this vulndb version is missing or incomplete, govulncheck
# is reinstalled only when the installed one is not the pinned version.
#
# To refresh the data, bump VULNDB_VERSION (any golang.org/x/vulndb pseudo-
# version the proxy serves; `go list -m golang.org/x/vulndb@master`).
set -euo pipefail

VULNDB_VERSION="${JIMU_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
GOVULNCHECK_VERSION="${JIMU_GOVULNCHECK_VERSION:-v1.9.0}"

# The machine's go env says GOTOOLCHAIN=local; let go fetch a newer
# toolchain from the proxy if a tool module ever asks for one.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

log() { printf 'vulndb.sh: %s\n' "$*" >&2; }

cache="${1:-}"
if [[ -z "$cache" ]]; then
	gocache="$(go env GOCACHE)"
	if [[ -z "$gocache" || "$gocache" == off ]]; then
		log "GOCACHE is unset/off; pass a cache dir as \$1"
		exit 2
	fi
	cache="$gocache/../jimu-vulndb"
fi
mkdir -p "$cache"
cache="$(cd "$cache" && pwd -P)"

# Serialise concurrent runs (e.g. two `make vuln` at once) on the same cache.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache/.lock"
	flock 9
fi

# Work outside any module so that `go ... pkg@version` sees no go.mod and
# the caller's module (and its toolchain line) does not matter.
work="$(mktemp -d "$cache/.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- database ---------------------------------------------------------------
db="$cache/db/$VULNDB_VERSION"
stamp="$db/.jimu-vulndb-complete"
if [[ -f "$stamp" && -f "$db/index/modules.json" && -f "$db/index/db.json" ]]; then
	log "database for golang.org/x/vulndb@$VULNDB_VERSION is cached"
else
	start=$SECONDS
	log "downloading golang.org/x/vulndb@$VULNDB_VERSION"
	src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	if [[ -z "$src" || ! -d "$src/data/osv" ]]; then
		log "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION (dir: '${src}')"
		exit 1
	fi
	log "indexing $src/data/osv"
	out="$work/db"
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" \
		-vulns "$src/data/osv" -out "$out"

	# Sanity check: one ID/ entry per OSV file, and the index files exist.
	want="$(find "$src/data/osv" -maxdepth 1 -name '*.json' | wc -l)"
	got="$(find "$out/ID" -maxdepth 1 -name '*.json' | wc -l)"
	for f in db modules vulns; do
		[[ -s "$out/index/$f.json" ]] || { log "missing index/$f.json"; exit 1; }
	done
	if [[ "$want" -eq 0 || "$want" -ne "$got" ]]; then
		log "indexed $got entries, expected $want"
		exit 1
	fi
	# data/osv in the module has every "modified" zeroed (vuln.go.dev fills
	# them in from git history at deploy time), so indexdb writes a DB
	# modified time of 0001-01-01 and govulncheck would report that. Use the
	# vulndb commit time from the pseudo-version instead; matching does not
	# depend on it, it only tells how fresh the data is.
	if [[ "$VULNDB_VERSION" =~ -([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-[0-9a-f]{12}$ ]]; then
		r=("${BASH_REMATCH[@]}")
		printf '{"modified":"%s-%s-%sT%s:%s:%sZ"}' \
			"${r[1]}" "${r[2]}" "${r[3]}" "${r[4]}" "${r[5]}" "${r[6]}" >"$out/index/db.json"
		gzip -n -c "$out/index/db.json" >"$out/index/db.json.gz"
	fi
	printf '%s\n' "$VULNDB_VERSION" >"$out/.jimu-vulndb-complete"

	mkdir -p "$cache/db"
	rm -rf "$db"
	mv "$out" "$db"
	# Drop databases of other vulndb versions.
	find "$cache/db" -mindepth 1 -maxdepth 1 -type d ! -name "$VULNDB_VERSION" \
		-exec rm -rf {} +
	log "built database ($got entries) in $((SECONDS - start))s"
fi

# --- govulncheck ------------------------------------------------------------
bin="$cache/bin/govulncheck"
if [[ -x "$bin" ]] &&
	go version -m "$bin" 2>/dev/null |
	grep -Eq "^[[:space:]]+mod[[:space:]]+golang\.org/x/vuln[[:space:]]+$GOVULNCHECK_VERSION([[:space:]]|\$)"; then
	log "govulncheck $GOVULNCHECK_VERSION is installed"
else
	log "installing golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
	GOBIN="$cache/bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

printf '%s\n' "$db"
