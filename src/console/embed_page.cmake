# Writes OUT: a C++ file defining vecsync::console::kPage, the text of the page IN.
file(READ ${IN} page)
file(WRITE ${OUT}.tmp "// Generated from ${IN}. Do not edit.\n#include \"src/console/console_page.h\"\n\nnamespace vecsync::console {\nconst char kPage[] = R\"vecsync_page(${page})vecsync_page\";\n}  // namespace vecsync::console\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
