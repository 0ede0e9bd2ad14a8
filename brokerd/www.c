/*
 * www.c - the live page (brokerd/www/index.html) and the login form that
 * stands in for it without the token (brokerd/www/login.html) compiled
 * into brokerd, so that the page always matches the JSON of the broker
 * that serves it and there is no file to install or find at start.  The
 * assembler's .incbin takes each file as it is (no generated source, no
 * xxd); the Makefile makes this object depend on both files.
 */
__asm__(".section .rodata\n"
        ".global www_index\n"
        ".type www_index, @object\n"
        "www_index:\n"
        ".incbin \"brokerd/www/index.html\"\n"
        ".global www_index_end\n"
        ".type www_index_end, @object\n"
        "www_index_end:\n"
        ".byte 0\n"
        ".global www_login\n"
        ".type www_login, @object\n"
        "www_login:\n"
        ".incbin \"brokerd/www/login.html\"\n"
        ".global www_login_end\n"
        ".type www_login_end, @object\n"
        "www_login_end:\n"
        ".byte 0\n"
        ".previous\n");
