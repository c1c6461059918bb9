/* How the API key is sent: `X-API-Key: KEY` (what the API reference's
 * examples send) or `Authorization: Bearer KEY` (what its header table names). */
#ifndef SCRAPEFS_AUTH_H
#define SCRAPEFS_AUTH_H

enum auth_mode { AUTH_X_API_KEY = 0, AUTH_BEARER = 1 };

#endif
