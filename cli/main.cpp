#include <iostream>
int main() {
  std::cout << "editclip: under construction\n";
  return 0;
}
