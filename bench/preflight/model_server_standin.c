/* Stands in for an image's inference binary in the preflight runs: lists the model
 * directory it is given (argv[1]) with the size of each file, and says it is serving.
 * Built static so that it runs in any rootfs. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "/models";
  DIR* d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "model server: cannot open %s\n", dir);
    return 1;
  }
  int files = 0;
  long long bytes = 0;
  for (struct dirent* e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      ++files;
      bytes += st.st_size;
    }
  }
  closedir(d);
  printf("model server: pid %d, %d files, %lld bytes in %s: serving\n", (int)getpid(), files, bytes,
         dir);
  return 0;
}
