#include "storage/keys.h"

namespace replicad::storage::keys {

bool usable_owner(std::string_view id) {
  return !id.empty() && id.find('\0') == std::string_view::npos && id.size() < kMaxKeySize;
}

std::optional<std::string> owner_prefix(std::string_view owner) {
  if (!usable_owner(owner)) return std::nullopt;
  std::string key;
  key.reserve(owner.size() + 1);
  key.append(owner);
  key.push_back('\0');
  return key;
}

std::optional<std::string> owner_item(std::string_view owner, std::string_view item) {
  auto key = owner_prefix(owner);
  if (!key || key->size() + item.size() > kMaxKeySize) return std::nullopt;
  key->append(item);
  return key;
}

std::optional<std::string> record(std::string_view uniqueid, uint32_t uid) {
  auto key = owner_prefix(uniqueid);
  if (!key || key->size() + 4 > kMaxKeySize) return std::nullopt;
  // Big endian, so that LMDB's bytewise key order is numeric uid order.
  key->push_back(static_cast<char>(uid >> 24));
  key->push_back(static_cast<char>(uid >> 16));
  key->push_back(static_cast<char>(uid >> 8));
  key->push_back(static_cast<char>(uid));
  return key;
}

std::optional<uint32_t> record_uid(std::string_view key, size_t prefix_size) {
  if (key.size() != prefix_size + 4) return std::nullopt;
  uint32_t uid = 0;
  for (size_t i = prefix_size; i < key.size(); ++i) uid = uid << 8 | static_cast<uint8_t>(key[i]);
  return uid;
}

}  // namespace replicad::storage::keys
