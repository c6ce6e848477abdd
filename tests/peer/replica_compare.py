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
everything else, ACL strings included, must be byte-identical.
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

    def __bool__(self):
        return not self.differences

    def summary(self, limit=12):
        if not self.differences:
            return "identical (%d mailboxes, %d records)" % (self.mailboxes, self.records)
        shown = self.differences[:limit]
        more = len(self.differences) - len(shown)
        return "%d differences%s:\n    %s" % (
            len(self.differences), " (first %d)" % limit if more > 0 else "", "\n    ".join(shown))


def compare_users(ref, target, users, names=("ref", "target")):
    """GET USER for each user and GET FULLMAILBOX for every mailbox either
    side reports, on two authenticated SyncClients."""
    result = Comparison()
    for user in users:
        ref_user = canon_reply(ref.get_user(user))
        tgt_user = canon_reply(target.get_user(user))
        result.differences += diff(ref_user, tgt_user, "GET USER %s" % user, names)
        mailboxes = list(ref_user.get("MAILBOX", {}))
        if not mailboxes:
            result.differences.append("GET USER %s: %s holds no mailbox for this user "
                                      "(nothing to compare)" % (user, names[0]))
        mailboxes += [m for m in tgt_user.get("MAILBOX", {}) if m not in mailboxes]
        compare_mailboxes(ref, target, mailboxes, names, result)
    return result


def compare_mailboxes(ref, target, mailboxes, names=("ref", "target"), result=None):
    if result is None:
        result = Comparison()
    for mbox in mailboxes:
        a = canon_reply(ref.get_fullmailbox(mbox))
        b = canon_reply(target.get_fullmailbox(mbox))
        result.differences += diff(a, b, "GET FULLMAILBOX %s" % mbox, names)
        if a.get("MAILBOX"):
            result.mailboxes += 1
            for box in a["MAILBOX"].values():
                result.records += len(box.get("RECORD", {}))
    return result
