#!/usr/bin/env bash
# Generates real delivery status notifications from real MTAs on 127.0.0.1 and writes them
# to tests/fixtures/bounces-mta/MTA/SITUATION.eml. Run by hand (not by CI), as root, on
# Debian 12; see tests/fixtures/bounces-mta/README.md.
#
#   tests/gen-bounces/generate.sh [postfix] [exim] [opensmtpd]     (default: all three)
#   tests/gen-bounces/generate.sh --expected    (only rewrite expected.tsv from the files)
#
# Prerequisites, fetched by the script itself: the Debian packages postfix, exim4-base,
# exim4-config, exim4-daemon-light and opensmtpd, downloaded with `apt-get download` and
# unpacked with `dpkg -x` (they conflict as installed packages: each provides
# mail-transport-agent), the library libidn12 (apt-get install), the system users and
# groups the daemons switch to (postfix, postdrop, Debian-exim, opensmtpd, opensmtpq),
# python3, and `unshare` (util-linux) for OpenSMTPD, whose spool path is compiled in.
# DNS: the "unknown domain" situation looks up a name under .invalid through the
# machine's resolver, which must answer NXDOMAIN (no internet access is needed).
#
# Re-runnable: everything lives below $GEN_BOUNCES_WORK (default /tmp/gen-bounces), where
# the folders of the MTAs run are wiped first, and their fixtures are overwritten; outside
# it, only the empty mount points /var/spool/smtpd, /var/lib/opensmtpd/empty and
# /usr/libexec/opensmtpd are made. A run takes about four minutes (the expired situation
# waits out a three-minute queue lifetime); the MTAs run side by side. Run one generator
# at a time: the ports are fixed (GEN_BOUNCES_PORT_BASE moves them).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
FIXTURES=$REPO/tests/fixtures/bounces-mta
WORK=${GEN_BOUNCES_WORK:-/tmp/gen-bounces}
BASE=${GEN_BOUNCES_PORT_BASE:-42500}
PF_OUT=$((BASE + 25)) PF_MX=$((BASE + 26))
EX_OUT=$((BASE + 35)) EX_MX=$((BASE + 36))
OS_OUT=$((BASE + 45)) OS_MX=$((BASE + 46))
# How long to wait for the DSNs of one MTA before giving up on the missing ones.
DEADLINE=${GEN_BOUNCES_DEADLINE:-420}

log() { printf '%s [%s] %s\n' "$(date +%T)" "${MTA:-gen}" "$*" >&2; }

# What each MTA is made to report; see answer_of for what each means.
SITUATIONS=(userunknown hostunknown mailboxfull mesgtoobig filtered spamdetected norelaying delayed expired)

# --- prerequisites -------------------------------------------------------------------

PACKAGES="postfix exim4-base exim4-config exim4-daemon-light opensmtpd"

prepare() {
    [ "$(id -u)" = 0 ] || { echo "run as root: the MTAs switch users" >&2; exit 1; }
    command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
    dpkg -s libidn12 >/dev/null 2>&1 || apt-get install -y libidn12 >/dev/null
    local debs=$WORK/debs
    mkdir -p "$debs"
    (cd "$debs" && apt-get download $PACKAGES >/dev/null 2>&1) || {
        apt-get update >/dev/null && (cd "$debs" && apt-get download $PACKAGES >/dev/null)
    }
    for p in $PACKAGES; do
        mkdir -p "$WORK/pkg/$p"
        dpkg -x "$debs/${p}"_*.deb "$WORK/pkg/$p"
    done
    for g in postdrop opensmtpd opensmtpq; do
        getent group "$g" >/dev/null || groupadd --system "$g"
    done
    for u in postfix Debian-exim opensmtpd opensmtpq; do
        getent passwd "$u" >/dev/null ||
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --user-group "$u" 2>/dev/null ||
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin -g "$u" "$u"
    done
}

# fill TEMPLATE NAME=VALUE...: the template with its @NAME@ placeholders filled in.
fill() {
    local src=$1
    shift
    local expr=()
    for kv in "$@"; do
        expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${expr[@]}" "$src"
}

# inject PORT RECIPIENT SITUATION [inject.py options]: one message, its Message-ID named
# after the MTA and situation so that its DSN can be recognised.
inject() {
    local port=$1 rcpt=$2 situation=$3
    shift 3
    python3 "$HERE/inject.py" "$port" "$rcpt" "$situation.$MTA.gen@newsletter.example.org" "$@"
}

# collect MAILDIR: moves each DSN that arrived in MAILDIR/new to the fixture named after
# the situation its returned Message-ID names. Returns 0 once every expected one is there.
collect() {
    local maildir=$1 dest=$FIXTURES/$MTA
    mkdir -p "$dest"
    for f in "$maildir"/new/*; do
        [ -f "$f" ] || continue
        local situation
        situation=$(grep -o -m1 "[a-z]*\.$MTA\.gen@newsletter" "$f" | cut -d. -f1 || true)
        if [ -z "$situation" ]; then
            log "a message that names no situation: $f"
            mv "$f" "$WORK/$MTA.unknown.$(basename "$f")"
            continue
        fi
        # The message to slow@ meets both: first a warning, then the final failure
        # (OpenSMTPD 6.8 words its expiry notice as a delay warning, "Envelope expired").
        if [ "$situation" = slow ]; then
            if grep -qiE '^Action: *failed|Envelope expired' "$f"; then
                situation=expired
            else
                situation=delayed
            fi
        fi
        log "DSN for $situation"
        install -m 644 "$f" "$dest/$situation.eml" && rm "$f"
    done
    local s
    for s in "${EXPECTED[@]}"; do
        [ -e "$dest/$s.eml" ] || return 1
    done
}

# wait_for MAILDIR: collects until every situation in EXPECTED has its DSN, or DEADLINE.
wait_for() {
    local maildir=$1 start=$SECONDS
    until collect "$maildir"; do
        if ((SECONDS - start > DEADLINE)); then
            log "gave up waiting; missing:"
            for s in "${EXPECTED[@]}"; do
                [ -e "$FIXTURES/$MTA/$s.eml" ] || log "  $s"
            done
            return 1
        fi
        sleep 5
    done
}

# --- Postfix -------------------------------------------------------------------------

# postfix_instance NAME PORT [TEMPLATE]: configures and starts one Postfix below
# $WORK/postfix-NAME (or $WORK/NAME if NAME has a dash) from the TEMPLATE (default NAME)
# files: TEMPLATE.main.cf and its maps.
postfix_instance() {
    local port=$2 pkg=$WORK/pkg/postfix dir=$WORK/postfix-$1 name=${3:-$1}
    [[ $1 == *-* ]] && dir=$WORK/$1
    mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail"
    local uid gid
    uid=$(id -u nobody) gid=$(id -g nobody)
    local vars=(DIR="$dir" PKG="$pkg" UID="$uid" GID="$gid" MX_PORT="$PF_MX" OUT_PORT="$PF_OUT")
    {
        fill "$HERE/postfix/common.cf" "${vars[@]}"
        fill "$HERE/postfix/$name.main.cf" "${vars[@]}"
    } >"$dir/etc/main.cf"
    fill "$HERE/postfix/master.cf" LISTEN="127.0.0.1:$port" >"$dir/etc/master.cf"
    fill "$HERE/postfix/$name.transport" "${vars[@]}" >"$dir/etc/transport"
    for map in mailboxes header_checks recipient_access data_access; do
        [ -f "$HERE/postfix/$name.$map" ] && cp "$HERE/postfix/$name.$map" "$dir/etc/$map"
    done
    cp "$pkg/usr/share/postfix/dynamicmaps.cf" "$dir/etc/"
    chown -R nobody:nogroup "$dir/mail"
    chown postfix "$dir/data"
    LD_LIBRARY_PATH=$pkg/usr/lib/postfix "$pkg/usr/sbin/postfix" -c "$dir/etc" start || {
        tail "$dir/maillog" >&2
        return 1
    }
}

# postfix_stop [DIR...]: stops the instances below $WORK/DIR (default the Postfix run's).
postfix_stop() {
    local pkg=$WORK/pkg/postfix
    [ $# -gt 0 ] || set -- postfix-out postfix-mx
    for d in "$@"; do
        [ -f "$WORK/$d/etc/main.cf" ] || continue
        LD_LIBRARY_PATH=$pkg/usr/lib/postfix "$pkg/usr/sbin/postfix" -c "$WORK/$d/etc" stop 2>/dev/null || true
    done
}

run_postfix() {
    MTA=postfix
    EXPECTED=("${SITUATIONS[@]}")
    rm -f "$FIXTURES/$MTA"/*.eml
    postfix_instance mx "$PF_MX"
    # full's mailbox is already past virtual_mailbox_limit.
    head -c 60000 /dev/zero | tr '\0' 'x' | fold -w 76 >"$WORK/postfix-mx/mail/full"
    chown nobody:nogroup "$WORK/postfix-mx/mail/full"
    postfix_instance out "$PF_OUT"
    inject "$PF_OUT" nosuchuser@example.net userunknown
    inject "$PF_OUT" someone@nowhere.invalid hostunknown
    inject "$PF_OUT" full@example.net mailboxfull
    inject "$PF_OUT" big@example.net mesgtoobig --pad 30000
    inject "$PF_OUT" filtered@example.net filtered
    inject "$PF_OUT" content@example.net spamdetected --subject "Issue #210 [spam-test]"
    inject "$PF_OUT" someone@elsewhere.example norelaying
    inject "$PF_OUT" slow@example.net slow
    wait_for "$WORK/postfix-out/mail/sink" || true
}

# --- Exim --------------------------------------------------------------------------

# exim_instance NAME PORT: configures and starts one Exim daemon below $WORK/exim-NAME,
# with a queue runner every ten seconds.
exim_instance() {
    local name=$1 port=$2 pkg=$WORK/pkg/exim4-daemon-light dir=$WORK/exim-$1
    mkdir -p "$dir/etc" "$dir/spool" "$dir/log" "$dir/mail"
    local vars=(DIR="$dir" PKG="$pkg" PORT="$port" MX_PORT="$EX_MX" OUT_PORT="$EX_OUT")
    {
        fill "$HERE/exim/common.conf" "${vars[@]}"
        fill "$HERE/exim/$name.conf" "${vars[@]}"
    } >"$dir/etc/exim.conf"
    chown -R Debian-exim:Debian-exim "$dir/spool" "$dir/log" "$dir/mail"
    "$pkg/usr/sbin/exim4" -C "$dir/etc/exim.conf" -bd -q10s || {
        tail "$dir/log/"* >&2
        return 1
    }
}

exim_stop() {
    for name in out mx; do
        local pid=$WORK/exim-$name/exim.pid
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
}

run_exim() {
    MTA=exim
    EXPECTED=("${SITUATIONS[@]}")
    rm -f "$FIXTURES/$MTA"/*.eml
    exim_instance mx "$EX_MX"
    head -c 60000 /dev/zero | tr '\0' 'x' | fold -w 76 >"$WORK/exim-mx/mail/full"
    chown Debian-exim:Debian-exim "$WORK/exim-mx/mail/full"
    exim_instance out "$EX_OUT"
    inject "$EX_OUT" nosuchuser@example.com userunknown
    inject "$EX_OUT" someone@nowhere.invalid hostunknown
    inject "$EX_OUT" full@example.com mailboxfull
    inject "$EX_OUT" big@example.com mesgtoobig --pad 30000
    inject "$EX_OUT" filtered@example.com filtered
    inject "$EX_OUT" content@example.com spamdetected --subject "Issue #210 [spam-test]"
    inject "$EX_OUT" someone@elsewhere.example norelaying
    inject "$EX_OUT" slow@example.com slow
    wait_for "$WORK/exim-out/mail/sink" || true
}

# --- OpenSMTPD ----------------------------------------------------------------------

# OpenSMTPD's spool, chroot and helper paths are compiled in: the daemon runs in a mount
# namespace of its own where they are this instance's folders and the unpacked package,
# and under a host name of its own (it names itself in its bounces).
opensmtpd_instance() {
    local name=$1 port=$2 pkg=$WORK/pkg/opensmtpd dir=$WORK/opensmtpd-$1
    mkdir -p "$dir/etc" "$dir/spool" "$dir/empty" "$dir/mail"
    chmod 711 "$dir/spool"
    chown nobody:nogroup "$dir/mail"
    fill "$HERE/opensmtpd/$name.conf" DIR="$dir" PORT="$port" MX_PORT="$OS_MX" >"$dir/etc/smtpd.conf"
    # Empty mount points on the host; the daemon sees its own folders there.
    mkdir -p /var/spool/smtpd /var/lib/opensmtpd/empty /usr/libexec/opensmtpd
    unshare -m -u --propagation private sh -c '
        dir=$1 pkg=$2
        hostname relay.example.org &&
        mount --bind "$dir/spool" /var/spool/smtpd &&
        mount --bind "$dir/empty" /var/lib/opensmtpd/empty &&
        mount --bind "$pkg/usr/libexec/opensmtpd" /usr/libexec/opensmtpd &&
        exec "$pkg/usr/sbin/smtpd" -d -f "$dir/etc/smtpd.conf"
    ' sh "$dir" "$pkg" >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    local start=$SECONDS
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ((SECONDS - start > 20)) || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            tail "$dir/log" >&2
            return 1
        fi
        sleep 1
    done
}

opensmtpd_stop() {
    local pid=$WORK/opensmtpd-out/pid
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    postfix_stop opensmtpd-mx
}

run_opensmtpd() {
    MTA=opensmtpd
    # No filtered: OpenSMTPD's DSN does not say at which stage the server refused, so a
    # recipient refused after DATA reads exactly like one refused at RCPT (userunknown).
    EXPECTED=(userunknown hostunknown mailboxfull mesgtoobig spamdetected norelaying delayed expired)
    rm -f "$FIXTURES/$MTA"/*.eml
    # The receiving side is a Postfix configured as for the Postfix run; OpenSMTPD has no
    # quotas, so the full mailbox is one refused at RCPT (fullrcpt@).
    postfix_instance opensmtpd-mx "$OS_MX" mx
    opensmtpd_instance out "$OS_OUT"
    inject "$OS_OUT" nosuchuser@example.net userunknown
    inject "$OS_OUT" someone@nowhere.invalid hostunknown
    inject "$OS_OUT" fullrcpt@example.net mailboxfull
    inject "$OS_OUT" big@example.net mesgtoobig --pad 30000
    inject "$OS_OUT" content@example.net spamdetected --subject "Issue #210 [spam-test]"
    inject "$OS_OUT" someone@elsewhere.example norelaying
    inject "$OS_OUT" slow@example.net slow
    wait_for "$WORK/opensmtpd-out/mail/sink" || true
}

# --- expected answers ----------------------------------------------------------------

# The domain each MTA's test recipients live in (the receiving server it relays to).
domain_of() {
    case $1 in exim) echo example.com ;; *) echo example.net ;; esac
}

# recipient_of MTA SITUATION: the address the run sent that situation's message to.
recipient_of() {
    local d
    d=$(domain_of "$1")
    case $2 in
        userunknown) echo "nosuchuser@$d" ;;
        hostunknown) echo someone@nowhere.invalid ;;
        mailboxfull) if [ "$1" = opensmtpd ]; then echo "fullrcpt@$d"; else echo "full@$d"; fi ;;
        mesgtoobig) echo "big@$d" ;;
        filtered) echo "filtered@$d" ;;
        spamdetected) echo "content@$d" ;;
        norelaying) echo someone@elsewhere.example ;;
        delayed | expired) echo "slow@$d" ;;
    esac
}

# The answer each situation calls for, in Sisimai's vocabulary: class and reason.
#   userunknown   no such mailbox: refused at RCPT
#   hostunknown   the domain has no DNS records (.invalid): the sender's look-up fails
#   mailboxfull   the mailbox is over its quota: fails at delivery (Postfix, Exim), or
#                 refused at RCPT (the OpenSMTPD run; OpenSMTPD has no quotas)
#   mesgtoobig    larger than the receiving server accepts
#   filtered      the recipient is accepted at RCPT but refused after DATA
#   spamdetected  a content filter refuses the message at the end of DATA
#   norelaying    the receiving server is not the destination and relays for nobody
#   expired       "try again later" until the queue lifetime ran out
#   delayed       the warning sent meanwhile: "expired" in Sisimai too (it names reports
#                 with Action: delayed so); mailroom applies none, as the sender still tries
answer_of() {
    case $1 in
        userunknown) echo "hard userunknown" ;;
        hostunknown) echo "hard hostunknown" ;;
        mailboxfull) echo "soft mailboxfull" ;;
        mesgtoobig) echo "soft mesgtoobig" ;;
        filtered) echo "soft filtered" ;;
        spamdetected) echo "soft spamdetected" ;;
        norelaying) echo "soft norelaying" ;;
        delayed | expired) echo "soft expired" ;;
    esac
}

# Rewrites expected.tsv from the fixtures present: the answers come from the situation
# each file was made for (the action too: only the warning is "delayed", whatever the
# DSN says); the status code is the one the DSN's Status field carries.
write_expected() {
    {
        printf 'file\tmta\tsituation\trecipient\tclass\treason\taction\tstatus\n'
        for f in "$FIXTURES"/*/*.eml; do
            [ -f "$f" ] || continue
            local mta situation answer action status
            mta=$(basename "$(dirname "$f")") situation=$(basename "$f" .eml)
            answer=$(answer_of "$situation")
            status=$(grep -m1 -i '^Status: *[245]\.' "$f" | sed 's/^[^:]*: *//; s/[[:space:]].*//' || true)
            action=failed
            [ "$situation" = delayed ] && action=delayed
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mta/$(basename "$f")" "$mta" "$situation" \
                "$(recipient_of "$mta" "$situation")" "${answer% *}" "${answer#* }" "$action" "$status"
        done
    } >"$FIXTURES/expected.tsv"
}

# --- main ----------------------------------------------------------------------------

cleanup() {
    MTA=gen
    for m in "${mtas[@]}"; do "${m}_stop"; done
}

main() {
    if [ "${1:-}" = --expected ]; then
        write_expected
        return
    fi
    mtas=("$@")
    [ ${#mtas[@]} -gt 0 ] || mtas=(postfix exim opensmtpd)
    for m in "${mtas[@]}"; do
        case $m in
            postfix | exim | opensmtpd) ;;
            *) echo "unknown MTA '$m': postfix, exim or opensmtpd" >&2 && exit 2 ;;
        esac
    done
    prepare
    for m in "${mtas[@]}"; do
        rm -rf "$WORK/$m-"* "$WORK/$m".unknown.*
    done
    trap cleanup EXIT
    trap 'exit 1' INT TERM
    local pids=()
    for m in "${mtas[@]}"; do
        "run_$m" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    write_expected
    MTA=gen log "wrote $FIXTURES/expected.tsv"
}

main "$@"
