// APPLY RESERVE and APPLY MESSAGE: getting message bodies ready for the
// MAILBOX commands of the same session (spec §3.1, §3.2; Cyrus
// sync_support.c `sync_apply_reserve`, `reserve_folder`, `sync_apply_message`).
//
// Neither writes to the store.  Bodies are stored once per GUID, so RESERVE
// asks the store as a whole instead of searching the named folders as Cyrus
// does; MESSAGE keeps the uploads the parser has already verified while they
// streamed in.

#include "protocol/reply_writer.h"
#include "protocol/sync_handlers.h"
#include "server/log.h"

namespace replicad::protocol::handlers {

SyncReply apply_reserve(storage::ReadView& view, const Dlist& value, SyncSession& session) {
  if (!value.is_kvlist()) return make_reply(SyncError::bad_parameters);
  const Dlist* partition = value.get("PARTITION");
  const Dlist* mailboxes = value.get("MBOXNAME");
  const Dlist* guids = value.get("GUID");
  if (!to_atom(partition) || mailboxes == nullptr || !mailboxes->is_list() || guids == nullptr ||
      !guids->is_list())
    return make_reply(SyncError::bad_parameters);

  // Every GUID must be well-formed before anything is reserved.
  std::vector<storage::Guid> wanted;
  wanted.reserve(guids->items.size());
  for (const Dlist& item : guids->items) {
    std::optional<storage::Guid> guid = to_guid(&item);
    if (!guid) return make_reply(SyncError::bad_parameters);
    wanted.push_back(*guid);
  }

  std::string data;
  std::optional<KvWriter> missing;
  for (const storage::Guid& guid : wanted) {
    // A body the store holds is reserved for the session; the client
    // uploads the rest.  Cyrus lists a GUID as often as it was asked for.
    if (session.staging != nullptr && view.has_body(guid)) {
      session.staging->reserve(guid);
      continue;
    }
    if (!missing) missing.emplace(open_line(data, "MISSING"), KvWriter::Shape::list);
    missing->item() += guid.hex();
  }
  if (missing) {
    missing->close();
    close_line(data);
  }
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply apply_message(const Dlist& value, SyncSession& session) {
  if (!value.is_list()) return make_reply(SyncError::bad_parameters);
  bool all_kept = true;
  for (const Dlist& item : value.items) {
    // The client sends NIL for a message its own copy of which is damaged;
    // anything but a file literal is skipped, as Cyrus does.
    if (!item.is_file()) continue;
    const FileRef& file = item.file;
    std::optional<storage::Guid> guid = storage::Guid::from_hex(file.guid_hex);
    if (!guid || !file.verified || file.path.empty() || session.staging == nullptr) {
      log::emit(log::Level::error, session.id,
                "SYNCERROR: upload not kept partition=<{}> guid=<{}> size=<{}> reason=<{}>",
                file.partition, file.guid_hex, file.size,
                !guid ? "bad guid" : session.staging == nullptr ? "no staging" : "not verified (sha1 or size mismatch)");
      if (session.staging != nullptr) session.staging->discard(file);
      all_kept = false;
      continue;
    }
    session.staging->keep(*guid, file);
  }
  return make_reply(all_kept ? SyncError::ok : SyncError::protocol_error);
}

}  // namespace replicad::protocol::handlers
