/*
 * fake_nvml.c: a stand-in for libnvidia-ml.so.1, built as a shared
 * library for test_metrics: two GPUs with fixed names, UUIDs and memory,
 * the entry points parent/metrics.c looks up and nothing else.  Memory
 * in use grows by 1 MiB per query, so a refresh can be told from none.
 */
#include <stdio.h>
#include <string.h>

typedef int	 nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned long long	 total;
	unsigned long long	 free;
	unsigned long long	 used;
} nvmlMemory_t;

#define FAKE_SUCCESS		0
#define FAKE_INVALID_ARGUMENT	2
#define FAKE_UNINITIALIZED	1
#define FAKE_GPUS		2
#define GIB			(1024ULL * 1024 * 1024)

struct nvmlDevice_st {
	const char		*name;
	const char		*uuid;
	unsigned long long	 total;
	unsigned long long	 used;
};

static struct nvmlDevice_st	 devices[FAKE_GPUS] = {
	{ "Fake GPU 0", "GPU-fake-0000", 16 * GIB, 1 * GIB },
	{ "Fake GPU 1", "GPU-fake-0001", 24 * GIB, 2 * GIB },
};
static int			 initialised;

nvmlReturn_t	 nvmlInit_v2(void);
nvmlReturn_t	 nvmlShutdown(void);
nvmlReturn_t	 nvmlDeviceGetCount_v2(unsigned int *);
nvmlReturn_t	 nvmlDeviceGetHandleByIndex_v2(unsigned int,
		    nvmlDevice_t *);
nvmlReturn_t	 nvmlDeviceGetName(nvmlDevice_t, char *, unsigned int);
nvmlReturn_t	 nvmlDeviceGetUUID(nvmlDevice_t, char *, unsigned int);
nvmlReturn_t	 nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t *);

nvmlReturn_t
nvmlInit_v2(void)
{
	initialised = 1;
	return FAKE_SUCCESS;
}

nvmlReturn_t
nvmlShutdown(void)
{
	initialised = 0;
	return FAKE_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (!initialised)
		return FAKE_UNINITIALIZED;
	*count = FAKE_GPUS;
	return FAKE_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (!initialised)
		return FAKE_UNINITIALIZED;
	if (index >= FAKE_GPUS)
		return FAKE_INVALID_ARGUMENT;
	*device = &devices[index];
	return FAKE_SUCCESS;
}

static nvmlReturn_t
copy_out(const char *value, char *buf, unsigned int len)
{
	if (strlen(value) >= len)
		return FAKE_INVALID_ARGUMENT;
	(void)snprintf(buf, len, "%s", value);
	return FAKE_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int len)
{
	return copy_out(device->name, name, len);
}

nvmlReturn_t
nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int len)
{
	return copy_out(device->uuid, uuid, len);
}

nvmlReturn_t
nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	if (!initialised)
		return FAKE_UNINITIALIZED;
	device->used += 1024 * 1024;
	memory->total = device->total;
	memory->used = device->used;
	memory->free = device->total - device->used;
	return FAKE_SUCCESS;
}
