# Writes OUT: a C++ file defining NAMESPACE::FUNCTION(), the MigrationSet named COMPONENT made of
# the .sql FILES. Each file is named NNNN_name.sql; the number is the migration's version. A line
# "-- vecsync-legacy-version: N" gives the version the migration had in the single set every
# owner shared before the sets were split (0: none).
set(body "// Generated from ${COMPONENT}'s migrations. Do not edit.\n#include \"src/engine/migrations.h\"\n\nnamespace ${NAMESPACE} {\nconst ::vecsync::engine::MigrationSet& ${FUNCTION}() {\n  static const ::vecsync::engine::MigrationSet kMigrations{\"${COMPONENT}\", {\n")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${name})
  file(READ ${f} sql)
  math(EXPR version_number "${version}")
  set(legacy 0)
  if(sql MATCHES "-- vecsync-legacy-version: ([0-9]+)")
    set(legacy ${CMAKE_MATCH_1})
  endif()
  string(APPEND body "      {${version_number}, \"${name}\", R\"vecsync_sql(${sql})vecsync_sql\", ${legacy}},\n")
endforeach()
string(APPEND body "  }};\n  return kMigrations;\n}\n}  // namespace ${NAMESPACE}\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
