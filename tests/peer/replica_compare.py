"""Field-by-field comparison of what two replicas answer to the same GET.

Both answers are parsed into dlist trees (csync_client) and brought into a
canonical form first, so that only differences the sync_client could notice
are reported:
  * data lines are keyed: MAILBOX by MBOXNAME, QUOTA by ROOT, SEEN by
    UNIQUEID, SIEVE by FILENAME (their order on the wire is irrelevant);
  * RECORD elements are keyed by UID;
  * ANNOTATIONS elements are keyed by (ENTRY, USERID): the client compares
    them as a set;
  * FLAGS and LSUB are compared as sets (the client does);
everything else, ACL strings included, must be byte-identical -- except
two values a Cyrus replica makes up itself when it stores Sieve scripts
(spec 3.9: it files them as messages of a #sieve folder of its own):
  * SIEVE LAST_UPDATE of a `.script` entry is the Cyrus replica's own store
    time, while replicad keeps the master's LAST_UPDATE;
  * QUOTA MODSEQ of a user with scripts: the Cyrus replica's #sieve folder
    and its messages bump it, replicad keeps the MODSEQ the master sent.
These are left out of the reference comparison and, when a session to the
master is given, checked against the master's own answer instead: the
LAST_UPDATE must be the master's; the quota MODSEQ must not exceed the
master's (the master's moves on with its own script changes, and the
client, comparing limits only, does not resend an unchanged quota).
"""
import dlist

MAX_SHOWN = 160


def _s(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return v


def _keyed(elements, key_fields, what):
    out = {}
    for el in elements if isinstance(elements, list) else [elements]:
        if not isinstance(el, dlist.KvList):
            out.setdefault("<malformed %s>" % what, []).append(canon(el))
            continue
        key = "/".join(str(_s(el.get(f))) for f in key_fields)
        while key in out:            # a duplicate is itself a difference
            key += "#dup"
        out[key] = canon_kvlist(el)
    return out


def _flag_set(v):
    if not isinstance(v, list):
        return canon(v)
    return sorted((_s(x) for x in v), key=lambda f: (str(f).lower(), str(f)))


def canon_kvlist(kv):
    out = {}
    for key in kv.keys():
        v = kv.get(key)
        if key == "ANNOTATIONS" and isinstance(v, list):
            out[key] = _keyed(v, ("ENTRY", "USERID"), "annotation")
        elif key == "RECORD" and isinstance(v, list):
            out[key] = {"uid %s" % k: r for k, r in
                        sorted(_keyed(v, ("UID",), "record").items(),
                               key=lambda kr: (len(kr[0]), kr[0]))}
        elif key == "FLAGS":
            out[key] = _flag_set(v)
        else:
            out[key] = canon(v)
    return out


def canon(v):
    if v is None or isinstance(v, (str, int)):
        return v
    if isinstance(v, bytes):
        return _s(v)
    if isinstance(v, dlist.KvList):
        return canon_kvlist(v)
    if isinstance(v, dlist.FileLiteral):
        return "file(%s %s %d bytes sha1 %s)" % (v.partition, v.guid, v.size, v.sha1)
    if isinstance(v, list):
        return [canon(x) for x in v]
    return repr(v)


_KEY_OF = {"MAILBOX": ("MBOXNAME",), "QUOTA": ("ROOT",), "SEEN": ("UNIQUEID",),
           "SIEVE": ("FILENAME",), "ANNOTATION": ("MBOXNAME", "ENTRY", "USERID")}


def canon_reply(reply):
    """{'status': 'OK', 'MAILBOX': {name: {...}}, 'LSUB': [...], ...}"""
    out = {"status": reply.status.word}
    for name, value in reply.data:
        if name in _KEY_OF:
            bucket = out.setdefault(name, {})
            for k, v in _keyed(value, _KEY_OF[name], name.lower()).items():
                while k in bucket:
                    k += "#dup"
                bucket[k] = v
        elif name == "LSUB":
            out[name] = sorted(_s(x) for x in value) if isinstance(value, list) else canon(value)
        else:
            out.setdefault(name, []).append(canon(value))
    return out


def _short(v):
    t = repr(v) if not isinstance(v, str) else v
    return t if len(t) <= MAX_SHOWN else t[:MAX_SHOWN] + "..."


def diff(a, b, path, names=("ref", "target")):
    """Differences between canonical trees a and b as readable lines."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            sub = "%s.%s" % (path, k) if path else str(k)
            if k not in b:
                out.append("%s: only in %s (%s)" % (sub, names[0], _short(a[k])))
            elif k not in a:
                out.append("%s: only in %s (%s)" % (sub, names[1], _short(b[k])))
            else:
                out += diff(a[k], b[k], sub, names)
    elif a != b:
        out.append("%s: %s=%s %s=%s" % (path, names[0], _short(a), names[1], _short(b)))
    return out


class Comparison:
    def __init__(self):
        self.differences = []
        self.mailboxes = 0
        self.records = 0
        self.scripts = 0

    def __bool__(self):
        return not self.differences

    def summary(self, limit=12):
        if not self.differences:
            scripts = ", %d Sieve scripts" % self.scripts if self.scripts else ""
            return "identical (%d mailboxes, %d records%s)" % (self.mailboxes, self.records, scripts)
        shown = self.differences[:limit]
        more = len(self.differences) - len(shown)
        return "%d differences%s:\n    %s" % (
            len(self.differences), " (first %d)" % limit if more > 0 else "", "\n    ".join(shown))


def _set_aside(entry, field):
    """Removes and returns one field of a canonical kvlist (None if absent)."""
    return entry.pop(field, None) if isinstance(entry, dict) else None


def _replica_local_values(ref_reply, tgt_reply, master_reply, path, names):
    """Takes the values a Cyrus replica makes up itself out of both canonical
    replies (see the module doc) and checks the target's against the master's."""
    out = []
    checks = []     # (what, target value, master value, test)
    master_reply = master_reply or {}
    for filename, entry in ref_reply.get("SIEVE", {}).items():
        if filename.endswith(".script"):
            _set_aside(entry, "LAST_UPDATE")
    for filename, entry in tgt_reply.get("SIEVE", {}).items():
        if filename.endswith(".script"):
            mine = _set_aside(entry, "LAST_UPDATE")
            theirs = master_reply.get("SIEVE", {}).get(filename)
            if theirs is not None:
                checks.append(("SIEVE.%s.LAST_UPDATE" % filename, mine, theirs.get("LAST_UPDATE"), "=="))
    if ref_reply.get("SIEVE"):
        for root, entry in ref_reply.get("QUOTA", {}).items():
            _set_aside(entry, "MODSEQ")
        for root, entry in tgt_reply.get("QUOTA", {}).items():
            mine = _set_aside(entry, "MODSEQ")
            theirs = master_reply.get("QUOTA", {}).get(root)
            if theirs is not None:
                checks.append(("QUOTA.%s.MODSEQ" % root, mine, theirs.get("MODSEQ"), "<="))
    for what, mine, theirs, test in checks:
        if test == "==" and mine == theirs:
            continue
        if test == "<=" and mine is not None and theirs is not None and int(mine) <= int(theirs):
            continue
        out.append("%s.%s: expected %s master's %s, %s=%s" % (path, what, test, _short(theirs), names[1],
                                                             _short(mine)))
    return out


def compare_users(ref, target, users, names=("ref", "target"), master=None):
    """GET USER and GET META for each user and GET FULLMAILBOX for every
    mailbox either side reports, on authenticated SyncClients (`master`, a
    session to the master's own sync_server, is optional)."""
    result = Comparison()
    for user in users:
        for what, get in (("USER", lambda c: c.get_user(user)), ("META", lambda c: c.get_meta(user))):
            ref_reply, tgt_reply = canon_reply(get(ref)), canon_reply(get(target))
            master_reply = canon_reply(get(master)) if master is not None else None
            path = "GET %s %s" % (what, user)
            result.differences += _replica_local_values(ref_reply, tgt_reply, master_reply, path, names)
            result.differences += diff(ref_reply, tgt_reply, path, names)
            if what == "USER":
                ref_user, tgt_user = ref_reply, tgt_reply
                result.scripts += sum(1 for f in ref_reply.get("SIEVE", {}) if f.endswith(".script"))
        mailboxes = list(ref_user.get("MAILBOX", {}))
        if not mailboxes:
            result.differences.append("GET USER %s: %s holds no mailbox for this user "
                                      "(nothing to compare)" % (user, names[0]))
        mailboxes += [m for m in tgt_user.get("MAILBOX", {}) if m not in mailboxes]
        compare_mailboxes(ref, target, mailboxes, names, result)
    return result


def compare_quotas(ref, target, roots, names=("ref", "target"), result=None, modseq_made_up=()):
    """GET QUOTA of each root (the exact limit encoding: LIMIT, each
    resource that has a limit, MODSEQ).  `modseq_made_up`: roots of users
    with Sieve scripts, whose MODSEQ the Cyrus reference bumps itself (see
    the module doc; compare_users checks it against the master)."""
    if result is None:
        result = Comparison()
    for root in roots:
        a, b = canon_reply(ref.get("QUOTA", root)), canon_reply(target.get("QUOTA", root))
        if root in modseq_made_up:
            for reply in (a, b):
                for entry in reply.get("QUOTA", {}).values():
                    _set_aside(entry, "MODSEQ")
        if not a.get("QUOTA"):
            result.differences.append("GET QUOTA %s: %s has no such root (nothing to compare)" % (root, names[0]))
        result.differences += diff(a, b, "GET QUOTA %s" % root, names)
    return result


def compare_mailboxes(ref, target, mailboxes, names=("ref", "target"), result=None):
    """GET MAILBOXES of all (the only GET that shows an intermediate's short
    form) and GET FULLMAILBOX of each."""
    if result is None:
        result = Comparison()
    if mailboxes:
        result.differences += diff(canon_reply(ref.get_mailboxes(mailboxes)),
                                   canon_reply(target.get_mailboxes(mailboxes)), "GET MAILBOXES", names)
    for mbox in mailboxes:
        a = canon_reply(ref.get_fullmailbox(mbox))
        b = canon_reply(target.get_fullmailbox(mbox))
        result.differences += diff(a, b, "GET FULLMAILBOX %s" % mbox, names)
        if a.get("MAILBOX"):
            result.mailboxes += 1
            for box in a["MAILBOX"].values():
                result.records += len(box.get("RECORD", {}))
    return result
