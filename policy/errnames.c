/* errnames.c: the errno and EAI_* names carom.ini spells (retry_on, open_errno) and
 * their values on this system. It must never depend on strerror or the locale: names are
 * the stable spelling a config file and the scoreboard share. */
#include "policy_int.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <strings.h>

/* The network failures come first, in the order docs/configuration.md lists retry_on, so that
 * describe prints the default list exactly as the docs write it; then the rest by value.
 * Aliases follow their primary name, so value -> name always gives the primary. */
const carom__errname
    carom__errnames[] =
        {
#define E(x) {#x, x},
#ifdef ECONNREFUSED
            E(ECONNREFUSED)
#endif
#ifdef ETIMEDOUT
                E(ETIMEDOUT)
#endif
#ifdef EHOSTUNREACH
                    E(EHOSTUNREACH)
#endif
#ifdef ENETUNREACH
                        E(ENETUNREACH)
#endif
#ifdef ECONNRESET
                            E(ECONNRESET)
#endif
#ifdef ECONNABORTED
                                E(ECONNABORTED)
#endif
#ifdef ENETDOWN
                                    E(ENETDOWN)
#endif
#ifdef ENETRESET
                                        E(ENETRESET)
#endif
#ifdef EHOSTDOWN
                                            E(EHOSTDOWN)
#endif
#ifdef EPIPE
                                                E(EPIPE)
#endif
#ifdef EAGAIN
                                                    E(EAGAIN)
#endif
#ifdef EADDRNOTAVAIL
                                                        E(EADDRNOTAVAIL)
#endif
#ifdef EADDRINUSE
                                                            E(EADDRINUSE)
#endif
#ifdef EACCES
                                                                E(EACCES)
#endif
#ifdef EPERM
                                                                    E(EPERM)
#endif
#ifdef ENOBUFS
                                                                        E(ENOBUFS)
#endif
#ifdef EPROTO
                                                                            E(EPROTO)
#endif
#ifdef ENOTCONN
                                                                                E(ENOTCONN)
#endif
#ifdef ESHUTDOWN
                                                                                    E(ESHUTDOWN)
#endif
#ifdef EINTR
                                                                                        E(EINTR)
#endif
#ifdef ENOENT
                                                                                            E(ENOENT)
#endif
#ifdef ESRCH
                                                                                                E(ESRCH)
#endif
#ifdef EIO
                                                                                                    E(EIO)
#endif
#ifdef ENXIO
                                                                                                        E(ENXIO)
#endif
#ifdef E2BIG
                                                                                                            E(E2BIG)
#endif
#ifdef ENOEXEC
                                                                                                                E(ENOEXEC)
#endif
#ifdef EBADF
                                                                                                                    E(EBADF)
#endif
#ifdef ECHILD
                                                                                                                        E(ECHILD)
#endif
#ifdef ENOMEM
                                                                                                                            E(ENOMEM)
#endif
#ifdef EFAULT
                                                                                                                                E(EFAULT)
#endif
#ifdef ENOTBLK
                                                                                                                                    E(ENOTBLK)
#endif
#ifdef EBUSY
                                                                                                                                        E(EBUSY)
#endif
#ifdef EEXIST
                                                                                                                                            E(EEXIST)
#endif
#ifdef EXDEV
                                                                                                                                                E(EXDEV)
#endif
#ifdef ENODEV
                                                                                                                                                    E(ENODEV)
#endif
#ifdef ENOTDIR
                                                                                                                                                        E(ENOTDIR)
#endif
#ifdef EISDIR
                                                                                                                                                            E(EISDIR)
#endif
#ifdef EINVAL
                                                                                                                                                                E(EINVAL)
#endif
#ifdef ENFILE
                                                                                                                                                                    E(ENFILE)
#endif
#ifdef EMFILE
                                                                                                                                                                        E(EMFILE)
#endif
#ifdef ENOTTY
                                                                                                                                                                            E(ENOTTY)
#endif
#ifdef ETXTBSY
                                                                                                                                                                                E(ETXTBSY)
#endif
#ifdef EFBIG
                                                                                                                                                                                    E(EFBIG)
#endif
#ifdef ENOSPC
                                                                                                                                                                                        E(ENOSPC)
#endif
#ifdef ESPIPE
                                                                                                                                                                                            E(ESPIPE)
#endif
#ifdef EROFS
                                                                                                                                                                                                E(EROFS)
#endif
#ifdef EMLINK
                                                                                                                                                                                                    E(EMLINK)
#endif
#ifdef EDOM
                                                                                                                                                                                                        E(EDOM)
#endif
#ifdef ERANGE
                                                                                                                                                                                                            E(ERANGE)
#endif
#ifdef EDEADLK
                                                                                                                                                                                                                E(EDEADLK)
#endif
#ifdef ENAMETOOLONG
                                                                                                                                                                                                                    E(ENAMETOOLONG)
#endif
#ifdef ENOLCK
                                                                                                                                                                                                                        E(ENOLCK)
#endif
#ifdef ENOSYS
                                                                                                                                                                                                                            E(ENOSYS)
#endif
#ifdef ENOTEMPTY
                                                                                                                                                                                                                                E(
                                                                                                                                                                                                                                    ENOTEMPTY)
#endif
#ifdef ELOOP
                                                                                                                                                                                                                                    E(ELOOP)
#endif
#ifdef ENOMSG
                                                                                                                                                                                                                                        E(ENOMSG)
#endif
#ifdef EIDRM
                                                                                                                                                                                                                                            E(EIDRM)
#endif
#ifdef ECHRNG
                                                                                                                                                                                                                                                E(ECHRNG)
#endif
#ifdef EL2NSYNC
                                                                                                                                                                                                                                                    E(EL2NSYNC)
#endif
#ifdef EL3HLT
                                                                                                                                                                                                                                                        E(EL3HLT)
#endif
#ifdef EL3RST
                                                                                                                                                                                                                                                            E(EL3RST)
#endif
#ifdef ELNRNG
                                                                                                                                                                                                                                                                E(ELNRNG)
#endif
#ifdef EUNATCH
                                                                                                                                                                                                                                                                    E(EUNATCH)
#endif
#ifdef ENOCSI
                                                                                                                                                                                                                                                                        E(ENOCSI)
#endif
#ifdef EL2HLT
                                                                                                                                                                                                                                                                            E(EL2HLT)
#endif
#ifdef EBADE
                                                                                                                                                                                                                                                                                E(EBADE)
#endif
#ifdef EBADR
                                                                                                                                                                                                                                                                                    E(EBADR)
#endif
#ifdef EXFULL
                                                                                                                                                                                                                                                                                        E(EXFULL)
#endif
#ifdef ENOANO
                                                                                                                                                                                                                                                                                            E(ENOANO)
#endif
#ifdef EBADRQC
                                                                                                                                                                                                                                                                                                E(EBADRQC)
#endif
#ifdef EBADSLT
                                                                                                                                                                                                                                                                                                    E(EBADSLT)
#endif
#ifdef EBFONT
                                                                                                                                                                                                                                                                                                        E(EBFONT)
#endif
#ifdef ENOSTR
                                                                                                                                                                                                                                                                                                            E(ENOSTR)
#endif
#ifdef ENODATA
                                                                                                                                                                                                                                                                                                                E(ENODATA)
#endif
#ifdef ETIME
                                                                                                                                                                                                                                                                                                                    E(ETIME)
#endif
#ifdef ENOSR
                                                                                                                                                                                                                                                                                                                        E(ENOSR)
#endif
#ifdef ENONET
                                                                                                                                                                                                                                                                                                                            E(ENONET)
#endif
#ifdef ENOPKG
                                                                                                                                                                                                                                                                                                                                E(ENOPKG)
#endif
#ifdef EREMOTE
                                                                                                                                                                                                                                                                                                                                    E(EREMOTE)
#endif
#ifdef ENOLINK
                                                                                                                                                                                                                                                                                                                                        E(ENOLINK)
#endif
#ifdef EADV
                                                                                                                                                                                                                                                                                                                                            E(EADV)
#endif
#ifdef ESRMNT
                                                                                                                                                                                                                                                                                                                                                E(ESRMNT)
#endif
#ifdef ECOMM
                                                                                                                                                                                                                                                                                                                                                    E(ECOMM)
#endif
#ifdef EMULTIHOP
                                                                                                                                                                                                                                                                                                                                                        E(EMULTIHOP)
#endif
#ifdef EDOTDOT
                                                                                                                                                                                                                                                                                                                                                            E(EDOTDOT)
#endif
#ifdef EBADMSG
                                                                                                                                                                                                                                                                                                                                                                E(EBADMSG)
#endif
#ifdef EOVERFLOW
                                                                                                                                                                                                                                                                                                                                                                    E(EOVERFLOW)
#endif
#ifdef ENOTUNIQ
                                                                                                                                                                                                                                                                                                                                                                        E(ENOTUNIQ)
#endif
#ifdef EBADFD
                                                                                                                                                                                                                                                                                                                                                                            E(EBADFD)
#endif
#ifdef EREMCHG
                                                                                                                                                                                                                                                                                                                                                                                E(EREMCHG)
#endif
#ifdef ELIBACC
                                                                                                                                                                                                                                                                                                                                                                                    E(ELIBACC)
#endif
#ifdef ELIBBAD
                                                                                                                                                                                                                                                                                                                                                                                        E(ELIBBAD)
#endif
#ifdef ELIBSCN
                                                                                                                                                                                                                                                                                                                                                                                            E(ELIBSCN)
#endif
#ifdef ELIBMAX
                                                                                                                                                                                                                                                                                                                                                                                                E(ELIBMAX)
#endif
#ifdef ELIBEXEC
                                                                                                                                                                                                                                                                                                                                                                                                    E(ELIBEXEC)
#endif
#ifdef EILSEQ
                                                                                                                                                                                                                                                                                                                                                                                                        E(EILSEQ)
#endif
#ifdef ERESTART
                                                                                                                                                                                                                                                                                                                                                                                                            E(ERESTART)
#endif
#ifdef ESTRPIPE
                                                                                                                                                                                                                                                                                                                                                                                                                E(ESTRPIPE)
#endif
#ifdef EUSERS
                                                                                                                                                                                                                                                                                                                                                                                                                    E(EUSERS)
#endif
#ifdef ENOTSOCK
                                                                                                                                                                                                                                                                                                                                                                                                                        E(ENOTSOCK)
#endif
#ifdef EDESTADDRREQ
                                                                                                                                                                                                                                                                                                                                                                                                                            E(EDESTADDRREQ)
#endif
#ifdef EMSGSIZE
                                                                                                                                                                                                                                                                                                                                                                                                                                E(EMSGSIZE)
#endif
#ifdef EPROTOTYPE
                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EPROTOTYPE)
#endif
#ifdef ENOPROTOOPT
                                                                                                                                                                                                                                                                                                                                                                                                                                        E(ENOPROTOOPT)
#endif
#ifdef EPROTONOSUPPORT
                                                                                                                                                                                                                                                                                                                                                                                                                                            E(EPROTONOSUPPORT)
#endif
#ifdef ESOCKTNOSUPPORT
                                                                                                                                                                                                                                                                                                                                                                                                                                                E(ESOCKTNOSUPPORT)
#endif
#ifdef EOPNOTSUPP
                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EOPNOTSUPP)
#endif
#ifdef EPFNOSUPPORT
                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(EPFNOSUPPORT)
#endif
#ifdef EAFNOSUPPORT
                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(EAFNOSUPPORT)
#endif
#ifdef EISCONN
                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(EISCONN)
#endif
#ifdef ETOOMANYREFS
                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(ETOOMANYREFS)
#endif
#ifdef EALREADY
                                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(EALREADY)
#endif
#ifdef EINPROGRESS
                                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(EINPROGRESS)
#endif
#ifdef ESTALE
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(ESTALE)
#endif
#ifdef EUCLEAN
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EUCLEAN)
#endif
#ifdef ENOTNAM
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(ENOTNAM)
#endif
#ifdef ENAVAIL
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(ENAVAIL)
#endif
#ifdef EISNAM
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(EISNAM)
#endif
#ifdef EREMOTEIO
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EREMOTEIO)
#endif
#ifdef EDQUOT
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(EDQUOT)
#endif
#ifdef ENOMEDIUM
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(ENOMEDIUM)
#endif
#ifdef EMEDIUMTYPE
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(EMEDIUMTYPE)
#endif
#ifdef ECANCELED
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(ECANCELED)
#endif
#ifdef ENOKEY
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(ENOKEY)
#endif
#ifdef EKEYEXPIRED
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(EKEYEXPIRED)
#endif
#ifdef EKEYREVOKED
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(EKEYREVOKED)
#endif
#ifdef EKEYREJECTED
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EKEYREJECTED)
#endif
#ifdef EOWNERDEAD
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        E(EOWNERDEAD)
#endif
#ifdef ENOTRECOVERABLE
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            E(ENOTRECOVERABLE)
#endif
#ifdef ERFKILL
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                E(ERFKILL)
#endif
#ifdef EHWPOISON
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    E(EHWPOISON)
#endif
#ifdef EWOULDBLOCK
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        {"EWOULDBLOCK",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         EWOULDBLOCK},
#endif
#ifdef EDEADLOCK
            {"EDEADLOCK", EDEADLOCK},
#endif
#ifdef ENOTSUP
            {"ENOTSUP", ENOTSUP},
#endif
/* EAI_BADFLAGS is -1 on glibc, the same as "unknown" below, and is never a transient
 * failure anyone retries, so it is not nameable here. */
#ifdef EAI_AGAIN
            E(EAI_AGAIN)
#endif
#ifdef EAI_NONAME
                E(EAI_NONAME)
#endif
#ifdef EAI_FAIL
                    E(EAI_FAIL)
#endif
#ifdef EAI_FAMILY
                        E(EAI_FAMILY)
#endif
#ifdef EAI_SOCKTYPE
                            E(EAI_SOCKTYPE)
#endif
#ifdef EAI_SERVICE
                                E(EAI_SERVICE)
#endif
#ifdef EAI_MEMORY
                                    E(EAI_MEMORY)
#endif
#ifdef EAI_SYSTEM
                                        E(EAI_SYSTEM)
#endif
#ifdef EAI_OVERFLOW
                                            E(EAI_OVERFLOW)
#endif
#ifdef EAI_NODATA
                                                E(EAI_NODATA)
#endif
#ifdef EAI_ADDRFAMILY
                                                    E(EAI_ADDRFAMILY)
#endif
#undef E
};
const size_t carom__nerrnames = sizeof carom__errnames / sizeof carom__errnames[0];

const char *carom_errno_name(int err)
{
    for (size_t i = 0; i < carom__nerrnames; i++)
        if (carom__errnames[i].value == err) return carom__errnames[i].name;
    return NULL;
}

/* Case-insensitive, as a user who writes "econnrefused" means nothing else. */
int carom_errno_value(const char *name)
{
    if (!name || !name[0]) return -1;
    /* Every name is 3 bytes or more: bytes 1 and 2, case folded (& 0xdf), rule out nearly
     * every other name before the full compare. */
    unsigned a = (unsigned char)name[1] & 0xdfu, b = name[1] ? (unsigned char)name[2] & 0xdfu : 0;
    for (size_t i = 0; i < carom__nerrnames; i++) {
        const char *n = carom__errnames[i].name;
        if (((unsigned char)n[1] & 0xdfu) != a || ((unsigned char)n[2] & 0xdfu) != b) continue;
        if (carom__icmp(n, name) == 0) return carom__errnames[i].value;
    }
    return -1;
}
