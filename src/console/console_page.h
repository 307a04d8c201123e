// The web console's page (src/console/console.html, embedded into the binary at build time):
// one HTML document with its script and styles, no build step and nothing fetched from elsewhere.
#ifndef VECSYNC_CONSOLE_CONSOLE_PAGE_H_
#define VECSYNC_CONSOLE_CONSOLE_PAGE_H_

namespace vecsync::console {

extern const char kPage[];

}  // namespace vecsync::console

#endif  // VECSYNC_CONSOLE_CONSOLE_PAGE_H_
