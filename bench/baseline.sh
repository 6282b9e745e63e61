#!/usr/bin/env bash
# What a full `ccci run RECIPE` does on this host, with no harness: the yardstick for
# ccci's own cost (issue 18). bench/vs_baseline.py runs it beside `ccci run`.
#
#   bench/baseline.sh RECIPE REPO     RECIPE: example-site or example-notes
#                                     REPO: the recipe's git repository
#
# Like a full run it deploys two apps at once, each with names of its own:
#   fresh     the version under test (HEAD): deploy, converge, check (the health path
#             through the proxy, then the recipe's READY_PROBE), then the same version
#             deployed again (idempotence: a change is a warning, as in ccci)
#   upgraded  the previous release: deploy, converge, check; then the pre_upgrade hook
#             seeds a marker, HEAD is deployed over it (--prune), converge, check, the
#             marker must be there; then backup (pre_backup seeds a marker; the
#             backupbot labels say what restic backs up, with their hooks; the snapshot
#             is compared with the source and the recipe's BACKUP_VERIFY check runs),
#             restore (pre_restore removes the marker; restic restores into the
#             volumes with the restore hooks; converge, check, marker back)
# then both are torn down together: services, containers, volumes, networks, secrets,
# configs, restic repository, and a check that nothing is left.
#
# Each step is the one ccci's roles take (collections/.../roles/*/tasks), done with
# the docker CLI, restic and curl only. Apps are reached on 127.0.0.1 only: through
# the proxy's https port, the name given to curl with --resolve, the proxy's CA.
# Output: `PHASE <app> <phase> <seconds>` per phase, `WARN ...`, `FAIL <app>: ...`.
# Exit 0 when every step passed, 1 otherwise; everything made is removed either way.

# Probes are called through retry_for and until, cleanup through a trap.
# shellcheck disable=SC2329
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a dot, and byte-wise sorting

# ------------------------------------------------------------------ settings
# Values ccci uses (role defaults, module defaults, the proxy's settings).
PROXY_PORT=18443
PROXY_CA=/var/lib/ccci/proxy/ca/ca.crt
VOLUMES_ROOT=/var/lib/docker/volumes
POLL=0.5               # stack_converge's and app_probe's poll interval
HOOK_INTERVAL=2        # a probe hook (READY_PROBE, a marker) is called again after 2 s
MARKER_RETRY=30        # upgrade_marker_retry, restore_marker_retry
MAX_TASK_FAILURES=3    # deploy_max_task_failures
MIN_RUNNING=3          # seconds a task without a healthcheck must run to count
BACKUP_ATTEMPTS=3      # backup_attempts
TEARDOWN_TIMEOUT=120   # teardown_timeout
RESIDUE_GRACE=15       # seconds swarm gets to finish removals before residue counts
# The label that marks what this script made. Not ccci.run: ccci's janitor, `ccci ls`
# and the residue checks of tests running beside it must not see these objects.
LABEL=ccci-baseline.run
# Fields of a container spec compared to tell a task made from the service's current
# spec (stack_converge compares the whole task template; these are what a deploy of
# another version changes, and they compare equal without the defaults Docker fills in
# on the service side only).
SPEC='{{json .Image}}{{json .Labels}}{{json .Command}}{{json .Args}}{{json .Env}}{{json .Mounts}}{{json .Configs}}{{json .Secrets}}'

usage() { echo "usage: $0 example-site|example-notes RECIPE_REPO" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
RECIPE=$1
REPO=$(cd "$2" && pwd)
case $RECIPE in
  # The recipe's CI config (recipes/<name>/meta.yml).
  example-site) HEALTH_PATH=/health HTTP_TIMEOUT=60 DEPLOY_TIMEOUT=120 ;;
  example-notes) HEALTH_PATH=/health HTTP_TIMEOUT=90 DEPLOY_TIMEOUT=180 ;;
  *) usage ;;
esac
[[ -d $REPO/.git ]] || { echo "$REPO is not a git repository" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ccci-baseline.XXXXXX)
declare -A ID DOMAIN STACK DIR
ROLES=(fresh upgraded)
TORN_DOWN=0
CHAIN_PIDS=()

# ------------------------------------------------------------------ small helpers
now() { NOW=${EPOCHREALTIME/./}; }            # microseconds, without forking
since_s() { now; printf '%d.%02d' $(( (NOW - $1) / 1000000 )) $(( (NOW - $1) % 1000000 / 10000 )); }
phase() { printf 'PHASE %s %s %s\n' "$1" "$2" "$(since_s "$3")"; }  # app phase start
die() { printf 'FAIL %s: %s\n' "$1" "$2" >&2; exit 1; }
warn() { printf 'WARN %s: %s\n' "$1" "$2" >&2; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
# Random letters and digits, as ansible's password lookup makes them.
random_text() {
  local text
  text=$(head -c $(( $1 * 8 + 64 )) /dev/urandom | tr -dc 'A-Za-z0-9')
  printf '%s' "${text:0:$1}"
}

# Each app is a run of its own to ccci: an id, a domain, a stack, a folder.
plan_names() {
  local role
  for role in "${ROLES[@]}"; do
    ID[$role]=b$(random_hex 4)
    DOMAIN[$role]=$RECIPE-${ID[$role]}.ccci.test
    STACK[$role]=${DOMAIN[$role]//./_}
    DIR[$role]=$WORK/$role
    mkdir -m 0700 "${DIR[$role]}"
  done
}

# ------------------------------------------------------------------ the recipe
# Clone one version, as ccci does for each plan of each app.
check_out() {  # commit dest
  git clone --quiet --no-checkout "$REPO" "$2"
  git -C "$2" checkout --quiet --detach "$1"
}

# Read a dotenv file into ENV, as ccci does: comments and blank lines skipped, quotes
# removed, $NAME and ${NAME} expanded from the keys read so far (not in single quotes).
# With exports_only, only `export NAME=value` lines (abra.sh's config versions).
declare -A ENV
expand() {
  # shellcheck disable=SC2016  # a literal $ to match
  local rest=$1 out='' re='^([^$]*)\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(.*)$'
  while [[ $rest =~ $re ]]; do
    out+=${BASH_REMATCH[1]}${ENV[${BASH_REMATCH[3]:-${BASH_REMATCH[4]}}]-}
    rest=${BASH_REMATCH[5]}
  done
  REPLY=$out$rest
}
read_env() {  # file [exports_only]
  local line key value
  [[ -f $1 ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == export\ * ]]; then line=${line#export }; elif [[ -n ${2:-} ]]; then continue; fi
    [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    case $value in
      \"*) value=${value#\"}; expand "${value%%\"*}"; value=$REPLY ;;
      \'*) value=${value#\'}; value=${value%%\'*} ;;
      *) value=${value%%[[:space:]]#*}; value=${value%"${value##*[![:space:]]}"}
         expand "$value"; value=$REPLY ;;
    esac
    ENV[$key]=$value
  done < "$1"
}

# The deploy environment of a checkout for one app: .env.sample, abra.sh's exported
# versions, then what ccci sets (DOMAIN, STACK_NAME, no ACME). Written as KEY=VALUE
# lines next to the checkout; compose files and secrets are read from it.
plan_deploy() {  # role checkout
  ENV=()
  read_env "$2/.env.sample"
  read_env "$2/abra.sh" exports_only
  ENV[DOMAIN]=${DOMAIN[$1]} ENV[STACK_NAME]=${STACK[$1]} ENV[LETS_ENCRYPT_ENV]=''
  local key
  for key in "${!ENV[@]}"; do printf '%s=%s\n' "$key" "${ENV[$key]}"; done > "$2.env"
}

# The version a checkout deploys: its coop-cloud.<stack>.version label, else its tag.
version_of() {  # checkout
  local files label
  IFS=: read -ra files <<< "$(sed -n 's/^COMPOSE_FILE=//p' "$1.env")"
  # shellcheck disable=SC2016  # ${STACK_NAME} as written in the compose file
  label=$(cd "$1" && sed -n 's/.*coop-cloud\.${STACK_NAME}\.version=\([^"]*\)".*/\1/p' "${files[@]}")
  [[ -n $label ]] && { echo "${label%%$'\n'*}"; return; }
  git -C "$1" tag --points-at HEAD | sort -V | tail -n 1
}

# The release below the version under test, by the semver part of the tags.
base_release() {  # target_version
  local tag best='' target=${1%%+*}
  while read -r tag; do
    [[ ${tag%%+*} == "$target" ]] && continue
    [[ $(printf '%s\n%s\n' "${tag%%+*}" "$target" | sort -V | head -n 1) == "${tag%%+*}" ]] || continue
    best=$tag
  done < <(git -C "$REPO" tag --list | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\+' | sort -t+ -k1,1V)
  [[ -n $best ]] || return 1
  echo "$best"
}

# Services, volumes and networks (not external) the compose files declare, and the
# first file's `version`: what the harness overlay lists.
compose_objects() {  # checkout
  local files
  IFS=: read -ra files <<< "$(sed -n 's/^COMPOSE_FILE=//p' "$1.env")"
  (cd "$1" && awk '
    /^[A-Za-z]/ { section = $1; sub(/:.*/, "", section)
                  if (section == "version" && !v) { v = $2; gsub(/"/, "", v); print "version", v } ; next }
    section ~ /^(services|volumes|networks)$/ && /^  [A-Za-z0-9_.-]+:/ {
      name = $1; sub(/:$/, "", name); print section, name; next }
    section ~ /^(volumes|networks)$/ && /^    external: *(true|yes)/ { print "external", name }
  ' "${files[@]}")
}

# The overlay ccci writes (roles/deploy/templates/harness-overlay.yml.j2): the run's
# label on every service, container, volume and network, and dnsrr endpoints (no
# routing mesh here).
harness_overlay() {  # role checkout -> path
  local out=$2.harness.yml version section name
  declare -A seen external
  local -a services=() volumes=() networks=()
  while read -r section name; do
    case $section in
      version) version=$name ;;
      external) external[$name]=1 ;;
      *) [[ -n ${seen[$section.$name]:-} ]] && continue; seen[$section.$name]=1
         case $section in services) services+=("$name") ;; volumes) volumes+=("$name") ;;
                          networks) networks+=("$name") ;; esac ;;
    esac
  done < <(compose_objects "$2")
  {
    printf 'version: "%s"\nservices:\n' "${version:-3.8}"
    for name in "${services[@]}"; do
      printf '  %s:\n    labels:\n      %s: "%s"\n    deploy:\n      endpoint_mode: dnsrr\n      labels:\n        %s: "%s"\n' \
        "$name" "$LABEL" "${ID[$1]}" "$LABEL" "${ID[$1]}"
    done
    overlay_section volumes "$1" "${volumes[@]}"
    overlay_section networks "$1" "${networks[@]}"
  } > "$out"
  echo "$out"
}

overlay_section() {  # section role names...: the run's label on each (none external)
  local section=$1 role=$2 name first=1; shift 2
  for name in "$@"; do
    [[ -n ${external[$name]:-} ]] && continue
    [[ $first ]] && { printf '%s:\n' "$section"; first=''; }
    printf '  %s:\n    labels:\n      %s: "%s"\n' "$name" "$LABEL" "${ID[$role]}"
  done
}

# ------------------------------------------------------------------ docker
# Objects of one kind carrying a label: the listing commands teardown and checks use.
list_kind() {  # kind selector
  case $1 in
    services) docker service ls -q --filter "label=$2" ;;
    containers) docker ps -aq --no-trunc --filter "label=$2" ;;
    volumes) docker volume ls -q --filter "label=$2" ;;
    networks) docker network ls -q --filter "label=$2" ;;
    secrets) docker secret ls -q --filter "label=$2" ;;
    configs) docker config ls -q --filter "label=$2" ;;
  esac
}
KINDS=(services containers volumes networks secrets configs)

# The running container of a service, as a hook finds it (ccci's HookCtx.container_id).
container_of() {  # role service
  local cid
  read -r cid < <(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK[$1]}_$2" \
                    --filter status=running) || true
  [[ -n $cid ]] || return 1
  echo "$cid"
}

exec_in() {  # role service command: sh -c in its running container
  local cid
  cid=$(container_of "$1" "$2") || { echo "no running container for $2" >&2; return 1; }
  docker exec "$cid" sh -c "$3"
}

# A request by the app's name to the proxy on the host's loopback, as a browser would.
app_curl() {  # role path [curl options...]: prints the body; fails on no answer
  local role=$1 path=$2; shift 2
  curl -sS --resolve "${DOMAIN[$role]}:$PROXY_PORT:127.0.0.1" --cacert "$PROXY_CA" \
    "$@" "https://${DOMAIN[$role]}:$PROXY_PORT$path"
}
app_get() { app_curl "$1" "$2" --fail --max-time "${3:-5}"; }

# ------------------------------------------------------------------ convergence
# Wait as ccci.recipe.stack_converge waits: every 0.5 s look at the stack's services,
# their tasks and containers; converged when each replicated service has exactly its
# replicas desired running, all running (a task without a healthcheck for 3 s), made
# from the current spec, their containers neither exited nor unhealthy, nothing still
# stopping, and no update in progress. A paused or rolled-back update fails at once;
# so does a service with 3 task failures since the deploy, counted while every other
# service had converged (crashes while a database starts do not count).
converge() {  # role since_us timeout
  local role=$1 since=$2 stack=${STACK[$1]} deadline
  local -a services tasks
  now; deadline=$(( NOW + $3 * 1000000 ))
  # The services a deploy made do not change while it converges: listed once.
  mapfile -t services < <(docker service ls -q --filter "label=com.docker.stack.namespace=$stack")
  (( ${#services[@]} )) || die "$role" "no services in stack $stack"
  declare -A seen_failure counted
  new_failures=()
  while true; do
    # Services: id name replicas update-state healthcheck version-label spec.
    local svc_lines task_lines bad_containers
    svc_lines=$(docker service inspect "${services[@]}" --format "{{.ID}} {{.Spec.Name}} {{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}global{{end}} {{with .UpdateStatus}}{{.State}}{{else}}none{{end}} {{with .Spec.TaskTemplate.ContainerSpec.Healthcheck}}{{if .Test}}{{index .Test 0}}{{else}}NONE{{end}}{{else}}NONE{{end}} {{with index .Spec.Labels \"coop-cloud.$stack.version\"}}{{.}}{{else}}-{{end}} {{with .Spec.TaskTemplate.ContainerSpec}}$SPEC{{end}}")
    # Tasks: service id desired state timestamp container spec. A task reaped between
    # the two calls is simply not seen this time.
    mapfile -t tasks < <(docker service ps -q --no-trunc "${services[@]}")
    task_lines=$(docker inspect "${tasks[@]}" --format "{{.ServiceID}} {{.ID}} {{.DesiredState}} {{.Status.State}} {{.Status.Timestamp.Unix}} {{with .Status.ContainerStatus}}{{.ContainerID}}{{end}}- {{with .Spec.ContainerSpec}}$SPEC{{end}}" 2>/dev/null || true)
    bad_containers=$(docker ps -a --no-trunc --filter "label=com.docker.stack.namespace=$stack" \
                       --format '{{.ID}} {{.State}} {{.Status}}' | awk '$2 == "exited" || $2 == "dead" || /\(unhealthy\)/ { print $1 }')
    now
    if judge_stack "$role" "$since"; then
      VERSION_SEEN=$CONVERGED_VERSION
      return 0
    fi
    (( NOW < deadline )) || die "$role" "stack $stack did not converge within $3 s: $PENDING_REASON"
    sleep "$POLL"
  done
}

# One look's verdict from svc_lines, task_lines and bad_containers (set by converge);
# 0 when converged. Keeps the failure counts in converge's seen_failure and counted.
judge_stack() {  # role since_us
  local role=$1 since=$2 sid name replicas update hc label spec all_ok=1
  local -A ok
  PENDING_REASON='' CONVERGED_VERSION=''
  while read -r sid name replicas update hc label spec; do
    [[ $label != - && -z $CONVERGED_VERSION ]] && CONVERGED_VERSION=$label
    case $update in
      paused|rollback_paused|rollback_started|rollback_completed)
        die "$role" "service $name: update $update" ;;
    esac
    local active=0 good=0 stopping=0 tsid tid desired state ts cid tspec
    while read -r tsid tid desired state ts cid tspec; do
      [[ $tsid == "$sid" ]] || continue
      cid=${cid%-}
      count_failure "$sid" "$tid" "$state" "$ts" "$since"
      if [[ $desired == shutdown || $desired == remove ]]; then
        [[ $state == running || $state == starting ]] && stopping=$(( stopping + 1 ))
        continue
      fi
      [[ $desired == running ]] || continue
      active=$(( active + 1 ))
      [[ $state == running && $tspec == "$spec" ]] || continue
      [[ $hc == NONE ]] && (( NOW / 1000000 - ts < MIN_RUNNING )) && continue
      [[ -n $cid && $bad_containers == *"$cid"* ]] && continue
      good=$(( good + 1 ))
    done <<< "$task_lines"
    if [[ $replicas == global ]]; then replicas=$active; (( active > 0 )) || replicas=1; fi
    if [[ $update != updating ]] && (( active == replicas && good == replicas && stopping == 0 )); then
      ok[$sid]=1
    else
      all_ok=''
      PENDING_REASON+="$name: $good/$replicas good of $active active, update $update; "
    fi
  done <<< "$svc_lines"
  [[ $all_ok ]] && return 0
  # Failures count only while every other service of the stack had converged.
  local failing
  while read -r sid name _; do
    local others_ok=1 other
    while read -r other _; do [[ $other != "$sid" && -z ${ok[$other]:-} ]] && others_ok=''; done <<< "$svc_lines"
    [[ $others_ok ]] || continue
    failing=${new_failures[$sid]:-0}
    counted[$sid]=$(( ${counted[$sid]:-0} + failing ))
    (( counted[$sid] < MAX_TASK_FAILURES )) || die "$role" "service $name failed $MAX_TASK_FAILURES times: $(docker service ps --no-trunc --format '{{.Error}}' "$sid" | grep -m1 . || true)"
  done <<< "$svc_lines"
  new_failures=()
  return 1
}

# Remember each task failure (failed, rejected, or a service task that exited) once,
# from the deploy on: swarm reaps old tasks, so they are counted as they are seen.
declare -A new_failures
count_failure() {  # service task state timestamp since_us
  case $3 in failed|rejected|complete) ;; *) return 0 ;; esac
  (( $4 * 1000000 >= $5 )) || return 0
  [[ -z ${seen_failure[$2]:-} ]] || return 0
  seen_failure[$2]=1
  new_failures[$1]=$(( ${new_failures[$1]:-0} + 1 ))
}

# ------------------------------------------------------------------ deploy
# The steps of roles/deploy for one version: the folder, the overlay, the secrets the
# app lacks, `docker stack deploy`, the wait, the version check.
deploy() {  # role checkout op(install|redeploy|upgrade) expected_version
  local role=$1 checkout=$2 op=$3 files overlay started
  local -a env_pairs compose_args=() prune=()
  mapfile -t env_pairs < "$checkout.env"
  IFS=: read -ra files <<< "$(sed -n 's/^COMPOSE_FILE=//p' "$checkout.env")"
  [[ $op == install ]] && refuse_existing_stack "$role"
  overlay=$(harness_overlay "$role" "$checkout")
  create_secrets "$role" "$checkout"
  local file
  for file in "${files[@]}"; do compose_args+=(--compose-file "$checkout/$file"); done
  compose_args+=(--compose-file "$overlay")
  now; started=$NOW
  [[ $op == upgrade ]] && prune=(--prune)  # an upgrade removes services it no longer has
  env "${env_pairs[@]}" docker stack deploy --resolve-image never "${prune[@]}" \
      "${compose_args[@]}" "${STACK[$role]}" >/dev/null 2>"$checkout.deploy.err" \
    || die "$role" "docker stack deploy failed: $(cat "$checkout.deploy.err")"
  DEPLOY_STARTED=$started
}

# After deploy: the wait and the version the stack reports.
converge_version() {  # role since_us expected_version
  converge "$1" "$2" "$DEPLOY_TIMEOUT"
  [[ -z $3 || $VERSION_SEEN == "$3" ]] || die "$1" "the stack reports version $VERSION_SEEN, expected $3"
}

# A fresh install never deploys over a stack that exists, whoever owns it.
refuse_existing_stack() {  # role
  local kind found
  for kind in "${KINDS[@]}"; do
    found=$(list_kind "$kind" "com.docker.stack.namespace=${STACK[$1]}")
    [[ -z $found ]] || die "$1" "stack ${STACK[$1]} already exists ($kind)"
  done
}

# SECRET_<NAME>_VERSION=v1 [# length=N]: ${STACK_NAME}_<name>_<version>, random.
create_secrets() {  # role checkout
  local line key version length name existing
  existing=$(docker secret ls --filter "label=$LABEL=${ID[$1]}" --format '{{.Name}}')
  while IFS= read -r line; do
    [[ $line =~ ^SECRET_([A-Z0-9_]+)_VERSION=([^[:space:]#]+)(.*length=([0-9]+))? ]] || continue
    key=${BASH_REMATCH[1]} version=${BASH_REMATCH[2]} length=${BASH_REMATCH[4]:-32}
    name=${STACK[$1]}_${key,,}_$version
    [[ $'\n'$existing$'\n' == *$'\n'$name$'\n'* ]] && continue
    random_text "$length" | docker secret create --label "$LABEL=${ID[$1]}" "$name" - >/dev/null
  done < "$2/.env.sample"
}

# ------------------------------------------------------------------ the recipe's hooks
# What recipes/<name>/hooks.py does, with docker exec and curl.
marker_text() { echo "ccci marker ${STACK[$1]} $2"; }  # role op

pre_install() {  # role: the notes example refuses leftover volumes of its stack
  [[ $RECIPE == example-notes ]] || return 0
  [[ -z $(docker volume ls --quiet --filter "name=^${STACK[$1]}_") ]] \
    || die "$1" "volumes of ${STACK[$1]} already exist"
}

ready_probe() {  # role: 0 when ready
  local body
  case $RECIPE in
    example-site)
      body=$(app_get "$1" /) || return 1
      [[ $body == *"<h1>example-site"* ]] || return 1
      body=$(app_get "$1" /version) || return 1
      [[ $body == example-site* ]] ;;
    example-notes)
      body=$(app_get "$1" /notes) || return 1
      [[ $body == \[* ]] || return 1
      body=$(exec_in "$1" db "runuser -u postgres -- psql -tAc 'select 1' notes") || return 1
      [[ $body == 1 ]] ;;
  esac
}

seed_marker() {  # role op: pre_upgrade and pre_backup
  local text
  text=$(marker_text "$1" "$2")
  case $RECIPE in
    example-site)
      exec_in "$1" app "printf '%s\\n' '$text' > /var/www/html/ccci-marker.txt" \
        || die "$1" "could not write the marker" ;;
    example-notes)
      app_curl "$1" /notes --fail --max-time 10 -H 'Content-Type:' --data-binary "$text" >/dev/null \
        || die "$1" "could not add the marker note" ;;
  esac
}

marker_present() {  # role op: 0 when the marker seeded by op is there
  local text body
  text=$(marker_text "$1" "$2")
  case $RECIPE in
    example-site) body=$(app_get "$1" /ccci-marker.txt 10) || return 1 ;;
    example-notes)
      body=$(exec_in "$1" db "runuser -u postgres -- psql -tA -c 'select body from notes' notes") \
        || return 1 ;;
  esac
  [[ $body == *"$text"* ]]
}

pre_restore() {  # role: remove the marker, so only the restore can bring it back
  case $RECIPE in
    example-site) exec_in "$1" app "rm /var/www/html/ccci-marker.txt" ;;
    example-notes) exec_in "$1" db "runuser -u postgres -- psql -tA -c 'delete from notes' notes" >/dev/null ;;
  esac || die "$1" "pre_restore failed"
}

backup_verify() {  # role snapshot: the recipe's BACKUP_VERIFY, reading the snapshot
  local dump
  case $RECIPE in
    example-site)
      dump=$(restic_of "$1" --no-lock dump -- "$2" "$VOLUMES_ROOT/${STACK[$1]}_content/_data/ccci-marker.txt") || return 1
      [[ $dump == "$(marker_text "$1" backup)" ]] ;;
    example-notes)
      dump=$(restic_of "$1" --no-lock dump -- "$2" "$VOLUMES_ROOT/${STACK[$1]}_postgres/_data/backup.sql") || return 1
      [[ $dump == *"-- PostgreSQL database dump complete"* && $dump == *"$(marker_text "$1" backup)"* ]] ;;
  esac
}

# A probe: called every 2 s until it passes or its window ends (ccci.hooks.run_hook).
retry_for() {  # seconds command...
  local deadline=$(( ${EPOCHREALTIME/./} + $1 * 1000000 )); shift
  until "$@"; do
    (( ${EPOCHREALTIME/./} + HOOK_INTERVAL * 1000000 <= deadline )) || return 1
    sleep "$HOOK_INTERVAL"
  done
}

# ------------------------------------------------------------------ check
# roles/check: the health path by the app's name through the proxy every 0.5 s until
# 200 (no redirects followed), then READY_PROBE.
health_ok() { [[ $(app_curl "$1" "$HEALTH_PATH" --max-time 5 -o /dev/null -w '%{http_code}' 2>/dev/null) == 200 ]]; }
check() {  # role
  local deadline=$(( ${EPOCHREALTIME/./} + HTTP_TIMEOUT * 1000000 ))
  until health_ok "$1"; do
    (( ${EPOCHREALTIME/./} < deadline )) || die "$1" "https://${DOMAIN[$1]}$HEALTH_PATH did not answer 200 within $HTTP_TIMEOUT s"
    sleep "$POLL"
  done
  retry_for "$HTTP_TIMEOUT" ready_probe "$1" || die "$1" "READY_PROBE did not pass within $HTTP_TIMEOUT s"
}

# ------------------------------------------------------------------ backup, restore
restic_of() {  # role args...: restic on the app's repository
  local role=$1; shift
  RESTIC_PASSWORD_FILE=${DIR[$role]}/restic.password restic --repo "${DIR[$role]}/restic" "$@"
}

# What the backupbot labels of the stack's services ask for (module_utils/backupbot.py),
# from one look at the services, as lines:
#   service <name> <running container or ->     hook <name> <phase>-<when> <command>
#   volume <host data dir>                       path <host path to back up>
backup_plan() {  # role
  local role=$1 stack=${STACK[$1]} facts kind name rest
  local -a services
  mapfile -t services < <(docker service ls -q --filter "label=com.docker.stack.namespace=$stack")
  facts=$(docker service inspect "${services[@]}" --format '{{$n := .Spec.Name}}{{range $k, $v := .Spec.Labels}}L {{$n}} {{$k}}={{$v}}{{println}}{{end}}{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{if eq .Type "volume"}}M {{$n}} {{.Source}}{{println}}{{end}}{{end}}')
  while read -r kind name rest; do
    if [[ $kind == service ]]; then
      echo "service $name $(container_of "$role" "${name#"${stack}_"}" || echo -)"
    else
      echo "$kind $name $rest"
    fi
  done < <(awk -v root="$VOLUMES_ROOT" -v stack="$stack" '
    $1 == "L" { rest = substr($0, length($1 " " $2 " ") + 1); eq = index(rest, "=")
                key = substr(rest, 1, eq - 1); labels[$2, key] = substr(rest, eq + 1)
                if (key == "backupbot.backup" && tolower(labels[$2, key]) == "true") backed[$2] = 1 }
    $1 == "M" { mounts[$2] = mounts[$2] " " $3 }
    END {
      split("backup-pre backup-post restore-pre restore-post", moments, " ")
      for (s in backed) {
        print "service", s
        for (i = 1; i <= 4; i++) {
          split(moments[i], pw, "-"); hook = "backupbot." pw[1] "." pw[2] "-hook"
          if ((s, hook) in labels) print "hook", s, moments[i], labels[s, hook]
        }
        n = split(mounts[s], vols, " ")
        for (i = 1; i <= n; i++) {
          vol = substr(vols[i], length(stack) + 2); label = "backupbot.backup.volumes." vol
          if (tolower(labels[s, label]) == "false") continue
          dir = root "/" vols[i] "/_data"; print "volume", dir
          if (labels[s, label ".path"] == "") { print "path", dir; continue }
          m = split(labels[s, label ".path"], subs, ",")
          for (j = 1; j <= m; j++) print "path", dir "/" subs[j]
        }
      }
    }' <<< "$facts")
}

# The hooks of one phase and moment, in the services' containers ("exec 2>&1" as ccci).
run_hooks() {  # role plan phase-when
  local kind name moment command cid
  while read -r kind name moment command; do
    [[ $kind == hook && $moment == "$3" ]] || continue
    cid=$(awk -v n="$name" '$1 == "service" && $2 == n { print $3 }' <<< "$2")
    docker exec "$cid" sh -c "exec 2>&1
$command" >/dev/null || { warn "$1" "$moment hook of $name failed"; return 1; }
  done <<< "$2"
}

# Backupbot's checks that every backed-up service has a running container on this
# node (the volumes are local to it): ccci's volume_nodes and the modules' planning.
check_local() {  # role plan
  ! grep -q '^service .* -$' <<< "$2" || die "$1" "a backed-up service has no running container here"
}

# One backup: pre-hooks, restic backup of the paths, post-hooks; then the snapshot
# must hold each path with the same content as the source, and BACKUP_VERIFY pass.
backup_once() {  # role plan -> SNAPSHOT
  local role=$1 plan=$2 out path
  local -a paths=() tags=(--tag "$LABEL=${ID[$1]}" --tag "stack=${STACK[$1]}")
  while read -r _ path; do paths+=("$path"); done < <(grep '^path ' <<< "$plan")
  run_hooks "$role" "$plan" backup-pre || return 1
  out=$(restic_of "$role" backup --json "${tags[@]}" -- "${paths[@]}") || return 1
  run_hooks "$role" "$plan" backup-post || return 1
  SNAPSHOT=$(sed -n 's/.*"message_type":"summary".*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' <<< "$out")
  [[ -n $SNAPSHOT ]] || return 1
  compare_snapshot "$role" "${paths[@]}" && backup_verify "$role" "$SNAPSHOT"
}

# Each declared path is in the snapshot and its files match the source (ccci hashes
# the small files of a restic dump against a walk of the source).
compare_snapshot() {  # role paths...
  local role=$1 listing path copy=${DIR[$1]}/compare; shift
  listing=$(restic_of "$role" --no-lock ls --json -- "$SNAPSHOT") || return 1
  for path in "$@"; do
    [[ $listing == *"\"path\":\"$path\""* ]] || { warn "$role" "$path is not in snapshot $SNAPSHOT"; return 1; }
    rm -rf "$copy"; mkdir -p "$copy"
    if [[ -d $path ]]; then
      mkdir -p "$copy$path"
      restic_of "$role" --no-lock dump --archive tar -- "$SNAPSHOT" "$path" | tar -x -C "$copy" || return 1
      diff -r "$copy$path" "$path" >/dev/null || { warn "$role" "$path differs in the snapshot"; return 1; }
    else
      restic_of "$role" --no-lock dump -- "$SNAPSHOT" "$path" | cmp -s - "$path" \
        || { warn "$role" "$path differs in the snapshot"; return 1; }
    fi
  done
  rm -rf "$copy"
}

# roles/backup: the repository and its password, pre_backup's marker, then whole
# backups until one verifies (3 attempts; the stack converges again before a retry).
backup() {  # role
  local role=$1 plan attempt
  plan=$(backup_plan "$role")
  check_local "$role" "$plan"
  random_text 40 > "${DIR[$role]}/restic.password"
  chmod 600 "${DIR[$role]}/restic.password"
  seed_marker "$role" backup
  plan=$(backup_plan "$role")
  restic_of "$role" init >/dev/null 2>&1 || die "$role" "restic init failed"
  for (( attempt = 1; attempt <= BACKUP_ATTEMPTS; attempt++ )); do
    backup_once "$role" "$plan" && return 0
    (( attempt < BACKUP_ATTEMPTS )) || break
    sleep 2
    now; converge "$role" "$NOW" "$DEPLOY_TIMEOUT"
    plan=$(backup_plan "$role")
  done
  die "$role" "backup failed after $BACKUP_ATTEMPTS attempts"
}

# roles/restore: pre_restore, then restic restore of the snapshot's paths inside the
# stack's backed-up volumes with the restore hooks, converge, check, the marker back.
restore() {  # role
  local role=$1 plan snapshots includes=() path started
  plan=$(backup_plan "$role")
  check_local "$role" "$plan"
  pre_restore "$role"
  now; started=$NOW
  snapshots=$(restic_of "$role" --no-lock snapshots --json -- "$SNAPSHOT") || die "$role" "restic snapshots failed"
  while read -r path; do
    while read -r _ volume; do
      [[ $path == "$volume" || $path == "$volume"/* ]] && { includes+=(--include "$path"); break; }
    done < <(grep '^volume ' <<< "$plan")
  done < <(grep -o '"paths":\[[^]]*\]' <<< "$snapshots" | grep -o '"/[^"]*"' | tr -d '"')
  (( ${#includes[@]} )) || die "$role" "snapshot $SNAPSHOT holds nothing of the stack's volumes"
  run_hooks "$role" "$plan" restore-pre || die "$role" "restore pre-hook failed"
  restic_of "$role" restore "$SNAPSHOT" --target / "${includes[@]}" >/dev/null || die "$role" "restic restore failed"
  run_hooks "$role" "$plan" restore-post || die "$role" "restore post-hook failed"
  converge "$role" "$started" "$DEPLOY_TIMEOUT"
  check "$role"
  retry_for "$MARKER_RETRY" marker_present "$role" backup || die "$role" "the marker is not back after the restore"
}

# ------------------------------------------------------------------ the two apps
# The install tier of one app: its first deploy, convergence at the planned version,
# the check; each a phase of its own.
install_and_check() {  # role checkout version
  local role=$1 t
  now; t=$NOW
  pre_install "$role"
  deploy "$role" "$2" install
  phase "$role" deploy "$t"
  now; t=$NOW
  converge_version "$role" "$DEPLOY_STARTED" "$3"
  phase "$role" converge "$t"
  now; t=$NOW
  check "$role"
  phase "$role" check "$t"
}

fresh_chain() {
  local role=fresh t checkout=${DIR[fresh]}/recipe version before after changed
  now; t=$NOW
  check_out "$COMMIT" "$checkout"
  plan_deploy "$role" "$checkout"
  version=$(version_of "$checkout")
  phase "$role" plan "$t"
  install_and_check "$role" "$checkout" "$version"
  # Idempotence (playbooks/tasks/idempotence.yml): what the second deploy changed.
  now; t=$NOW
  before=$(revisions "$role")
  deploy "$role" "$checkout" redeploy
  converge_version "$role" "$DEPLOY_STARTED" "$version"
  after=$(revisions "$role")
  changed=$(redeploy_changes "$before" "$after")
  [[ -z $changed ]] || warn "$role" "deploying the same version again changed $changed (CCCI-W601)"
  phase "$role" redeploy "$t"
}

# Per service: its id, its running tasks and its spec (less swarm's ForceUpdate
# counter). ccci compares the spec with Docker's PreviousSpec when the version index
# moved; the CLI shows Spec with defaults filled in and PreviousSpec without, so the
# baseline keeps the spec from before instead.
revisions() {  # role
  local sid spec
  for sid in $(docker service ls -q --filter "label=com.docker.stack.namespace=${STACK[$1]}"); do
    spec=$(docker service inspect "$sid" --format '{{json .Spec}}' | sed 's/"ForceUpdate":[0-9]*,\{0,1\}//')
    echo "$sid $(docker service ps -q --filter desired-state=running "$sid" | sort | tr '\n' ,) $spec"
  done
}

# Services the second deploy changed: a running task replaced, or another spec.
redeploy_changes() {  # before after
  local sid tasks spec after_tasks after_spec task
  while read -r sid tasks spec; do
    read -r _ after_tasks after_spec < <(grep "^$sid " <<< "$2") || { echo -n "$sid(removed) "; continue; }
    for task in ${tasks//,/ }; do
      [[ ,$after_tasks == *",$task,"* ]] || { echo -n "$sid(tasks replaced) "; continue 2; }
    done
    [[ $spec == "$after_spec" ]] || echo -n "$sid(spec) "
  done <<< "$1"
  return 0
}

upgraded_chain() {
  local role=upgraded t base_dir=${DIR[upgraded]}/base target_dir=${DIR[upgraded]}/recipe
  now; t=$NOW
  check_out "$BASE" "$base_dir"
  check_out "$COMMIT" "$target_dir"
  plan_deploy "$role" "$base_dir"
  plan_deploy "$role" "$target_dir"
  phase "$role" plan "$t"
  install_and_check "$role" "$base_dir" "$BASE"
  now; t=$NOW
  seed_marker "$role" upgrade
  deploy "$role" "$target_dir" upgrade
  converge_version "$role" "$DEPLOY_STARTED" "$TARGET"
  check "$role"
  retry_for "$MARKER_RETRY" marker_present "$role" upgrade || die "$role" "the marker is gone after the upgrade"
  phase "$role" upgrade "$t"
  now; t=$NOW
  backup "$role"
  phase "$role" backup "$t"
  now; t=$NOW
  restore "$role"
  phase "$role" restore "$t"
}

# ------------------------------------------------------------------ teardown
# roles/teardown (ccci.recipe.run_resources): remove the services, kill and remove
# their containers as they show up until none has for 0.5 s (the data is discarded:
# no stop grace period), then volumes, networks, secrets, configs (retried while
# still in use), then the restic repository and folder; fail on any residue.
teardown() {  # role
  local role=$1 left _pass
  for _pass in 1 2; do  # once more when a late container brought a volume back
    remove_all "$role"
    left=$(remaining "$role")
    [[ -z $left ]] && break
  done
  rm -rf "${DIR[$role]}"
  [[ -z $left ]] || die "$role" "residue after teardown: $left"
}

selectors() { echo "$LABEL=${ID[$1]}" "com.docker.stack.namespace=${STACK[$1]}"; }

remove_all() {  # role
  local role=$1 selector kind id quiet_since='' deadline
  local -a ids
  for selector in $(selectors "$role"); do
    mapfile -t ids < <(list_kind services "$selector")
    (( ${#ids[@]} == 0 )) || docker service rm "${ids[@]}" >/dev/null 2>&1 || true
  done
  now; deadline=$(( NOW + TEARDOWN_TIMEOUT * 1000000 ))
  while (( ${EPOCHREALTIME/./} < deadline )); do
    run_containers "$role"
    if (( ${#ids[@]} )); then
      quiet_since=''
      docker kill "${ids[@]}" >/dev/null 2>&1 || true
      docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
    elif [[ -z $quiet_since ]]; then
      now; quiet_since=$NOW
    elif (( ${EPOCHREALTIME/./} - quiet_since >= 500000 )); then
      break
    fi
    sleep 0.2
  done
  # Each object once, though both selectors list it (swarm deletes networks
  # asynchronously: one removed is listed for a moment still).
  for kind in volumes networks secrets configs; do
    for id in $(for selector in $(selectors "$role"); do list_kind "$kind" "$selector"; done | sort -u); do
      remove_retrying "$role" "$kind" "$id"
    done
  done
}

run_containers() {  # role: the app's containers into the caller's ids
  local selector
  mapfile -t ids < <(for selector in $(selectors "$1"); do list_kind containers "$selector"; done | sort -u)
}

remove_retrying() {  # role kind id: in use for a moment after its containers went
  local _attempt error
  local -a ids
  for _attempt in 1 2 3 4 5 6 7 8 9 10; do
    error=$(docker "${2%s}" rm "$3" 2>&1 >/dev/null) && return 0
    [[ $error != *"No such"* && $error != *"not found"* ]] || return 0  # gone already
    run_containers "$1"
    (( ${#ids[@]} == 0 )) || docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
    sleep 0.5
  done
  return 0  # what is still there is the residue check's to report
}

remaining() {  # role: what is left, swarm given a moment for asynchronous removals
  local deadline left selector kind
  now; deadline=$(( NOW + RESIDUE_GRACE * 1000000 ))
  while true; do
    left=''
    for selector in $(selectors "$1"); do
      for kind in "${KINDS[@]}"; do
        left+=$(list_kind "$kind" "$selector" | sed "s/^/$kind:/" | tr '\n' ' ')
      done
    done
    [[ -z $left ]] || (( ${EPOCHREALTIME/./} >= deadline )) && break
    sleep 0.5
  done
  echo "$left"
}

# Both apps torn down together, as ccci does; 1 when either leaves something behind.
teardown_all() {
  local role t pids=() status=0
  for role in "${ROLES[@]}"; do
    ( now; t=$NOW; teardown "$role"; phase "$role" teardown "$t" ) & pids+=($!)
  done
  for t in "${pids[@]}"; do wait "$t" || status=1; done
  TORN_DOWN=1
  return "$status"
}

# On any exit: stop the chains still running, tear down what is left, remove WORK.
cleanup() {
  local status=$? pid
  trap - EXIT INT TERM HUP
  # Each chain is a process group of its own (set -m): its docker or restic goes too.
  for pid in "${CHAIN_PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  for pid in "${CHAIN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $TORN_DOWN == 0 && ${#ID[@]} -gt 0 ]]; then teardown_all >/dev/null || status=1; fi
  rm -rf "$WORK"
  exit "$status"
}

# ------------------------------------------------------------------ main
main() {
  local started status=0 pid
  now; started=$NOW
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  COMMIT=$(git -C "$REPO" rev-parse HEAD)
  plan_names
  # The version under test and the release below it, from a scratch checkout.
  local probe=$WORK/probe
  check_out "$COMMIT" "$probe"
  plan_deploy fresh "$probe"
  TARGET=$(version_of "$probe")
  BASE=$(base_release "$TARGET") || die all "no release below $TARGET to upgrade from"
  rm -rf "$probe" "$probe.env"
  set -m  # each background chain in a process group of its own, to stop it whole
  echo "baseline $RECIPE: fresh ${DOMAIN[fresh]} ($TARGET), upgraded ${DOMAIN[upgraded]} ($BASE -> $TARGET)"
  fresh_chain & CHAIN_PIDS+=($!)
  upgraded_chain & CHAIN_PIDS+=($!)
  for pid in "${CHAIN_PIDS[@]}"; do
    wait "$pid" || { status=1; break; }
  done
  if (( status )); then exit 1; fi
  CHAIN_PIDS=()
  teardown_all || status=1
  phase all total "$started"
  exit "$status"
}

main
