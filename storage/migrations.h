// Versioned schema migrations for SQLite databases. A database records the last migration
// applied in PRAGMA user_version (0 for a new file); opening it applies the missing ones in
// order, each in its own transaction, so a crash leaves it at some whole version.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"
#include "storage/sqlite.h"

namespace mirrord {

// One step of a schema's history. Versions start at 1 and increase by one; a released
// migration is never edited, only followed by a new one.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;  // may hold several statements; must not BEGIN/COMMIT itself
};

// The catalog's schema history (see the SQL in migrations.cc for the tables).
std::span<const Migration> CatalogMigrations();

// Brings `db` up to the last version of `migrations`. Each migration runs in one IMMEDIATE
// transaction together with its user_version update and a foreign key check, so concurrent
// openers serialise and a failed migration leaves the previous version intact.
// On success returns the version now recorded. On failure the database is at the version
// of the last migration that succeeded; the Status names the failing migration. A database
// whose version is newer than the list knows is refused with FailedPrecondition (running
// old code against it could corrupt data it does not understand); a list whose versions are
// not 1, 2, 3, ... is an Internal error. Foreign keys cannot be toggled inside a
// transaction, so a migration that rebuilds a referenced table needs its own handling.
Result<int> ApplyMigrations(Db& db, std::span<const Migration> migrations);

}  // namespace mirrord
