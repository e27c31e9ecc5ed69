"""What filling RAM costs the kernel (:mod:`pipelines.epoch.faults`): an epoch's page faults and its time in the
kernel and out of it, counted."""

from __future__ import annotations

import mmap
import time

from pipelines.epoch.faults import PAGE_BYTES, FaultMeter, PageFaults


def test_touching_new_memory_is_counted_a_page_a_fault():
    size = 64 * 2**20
    meter = FaultMeter()
    meter.start()
    block = mmap.mmap(-1, size)
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 1
    faults = meter.stop()
    block.close()
    assert faults.fault_bytes >= 0.9 * size  # at least the block's pages (the interpreter adds its own)
    assert faults.kernel_s >= 0 and faults.seconds > 0


def test_memory_already_held_faults_nothing_new():
    size = 64 * 2**20
    block = mmap.mmap(-1, size)
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 1
    meter = FaultMeter()
    meter.start()
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 2
    faults = meter.stop()
    block.close()
    assert faults.fault_bytes < 0.1 * size


def test_faults_are_counted_in_pages():
    assert PageFaults(1024, 1.75, 3.0).fault_bytes == 1024 * PAGE_BYTES


def test_an_epochs_time_on_the_cores_is_counted_in_the_kernel_and_out_of_it():
    """a busy loop of a fifth of a second holds one core for it, outside the kernel; sleeping holds none"""
    meter = FaultMeter()
    meter.start()
    deadline, total = time.process_time() + 0.2, 0
    while time.process_time() < deadline:  # the clock read a system call: arithmetic between reads
        total += sum(range(100_000))
    time.sleep(0.2)
    counted = meter.stop()
    assert counted.user_s >= 0.1 and counted.user_s + counted.kernel_s >= 0.18 and counted.seconds >= 0.4
    assert counted.busy(cores=1) < 0.75  # the sleep: waited, not on a core
    assert PageFaults(0, 1.0, 2.0, 3.0).busy(cores=2) == 1.0
    assert PageFaults(0, 1.0, 2.0).busy(cores=2) is None  # a record without the time outside the kernel

