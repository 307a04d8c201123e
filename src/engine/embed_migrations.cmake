# Writes OUT: a C++ file defining vecsync::engine::internal::kMigrations from the .sql FILES.
# Each file is named NNNN_name.sql; the number is the migration's version.
set(body "// Generated from src/engine/migrations/*.sql. Do not edit.\n#include \"src/engine/migrations.h\"\n\nnamespace vecsync::engine::internal {\nconst std::vector<Migration>& EmbeddedMigrations() {\n  static const std::vector<Migration> kMigrations = {\n")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${name})
  file(READ ${f} sql)
  math(EXPR version_number "${version}")
  string(APPEND body "      {${version_number}, \"${name}\", R\"vecsync_sql(${sql})vecsync_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return kMigrations;\n}\n}  // namespace vecsync::engine::internal\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
